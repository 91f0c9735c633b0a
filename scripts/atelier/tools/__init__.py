"""Tools beside ComfyUI (InvokeAI's canvas, Gradio apps): their declarations, and serving them behind the gate."""
