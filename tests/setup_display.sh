#!/bin/sh
# Installs what the GUI tests need when it is missing: a virtual screen (Xvfb), software
# OpenGL (Mesa) and xdotool for real keyboard/mouse events. Debian/Ubuntu; needs root or sudo.
# Without them the GUI tests are skipped with a message saying what to install.
if command -v Xvfb >/dev/null 2>&1 && command -v xdotool >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup_display: no apt-get here; install Xvfb, Mesa (libgl1-mesa-dri libglx-mesa0) and xdotool yourself" >&2
    exit 0
fi
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
if ! { $SUDO apt-get update -qq >/dev/null &&
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq xvfb xdotool libgl1-mesa-dri libglx-mesa0 >/dev/null; }; then
    echo "setup_display: could not install Xvfb/Mesa/xdotool; the GUI tests will be skipped" >&2
fi
