"""GUI panels of the ganscope app, one per module: each edits RenderArgs and draws RenderResult.

Widgets never import torch (see DESIGN.md). The panels arrive with the app (issue: the app).
"""
