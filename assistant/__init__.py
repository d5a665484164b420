"""Everything about talking: the query parser, the conversation and the Gradio UI."""
