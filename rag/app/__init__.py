"""The chat app: HTML rendering, the Gradio UI and the feedback log."""
