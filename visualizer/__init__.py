"""The ganscope app shell: window, layout, main loop and the asynchronous render worker.

Imports gan_core and widgets; nothing imports it. The shell arrives with the app.
"""
