"""The image canvas: fit to window, integer zoom, wheel zoom about the cursor, drag to pan,
nearest or linear filtering.

Dear PyGui uploads every raw texture every frame, used or not, so the canvas owns exactly one
raw texture. It shows the rendered buffer itself, or — in nearest mode when magnified — the
visible crop magnified by pixel replication (Dear PyGui samples textures bilinearly and has no
filter switch, so nearest filtering is done here).
"""
from __future__ import annotations

import math

import dearpygui.dearpygui as dpg
import numpy as np

from visualizer.texture import TexturePool, magnify_nearest

MAX_MAGNIFIED = 4096   # side of the largest magnified crop texture


class Canvas:
    def __init__(self, parent: int | str, pool: TexturePool) -> None:
        self.pool = pool
        self.fit = True
        self.zoom = 1.0                    # screen pixels per image pixel
        self.center = (0.0, 0.0)           # image coordinates at the canvas centre
        self.filter = "linear"             # or "nearest"
        self.pixels: np.ndarray | None = None   # [H, W, 3] uint8 shown now
        self._buf: np.ndarray | None = None     # the buffer the raw texture points at
        self._buf_from_pool = False
        self._tex: int | None = None
        self._tex_shape: tuple[int, int] | None = None
        self._size = (1, 1)
        self._dim = False
        with dpg.child_window(parent=parent, border=False, no_scrollbar=True, no_scroll_with_mouse=True,
                              tag="canvas_window") as self.window:
            with dpg.drawlist(width=1, height=1, tag="canvas_drawlist") as self.drawlist:
                self._bg = dpg.draw_rectangle((0, 0), (1, 1), fill=(24, 24, 28, 255), color=(0, 0, 0, 0))
                self._image_item: int | None = None
                self._overlay = dpg.draw_text((12, 12), "", size=18, color=(255, 110, 110, 255))
                self._hint = dpg.draw_text((12, 12), "", size=15, color=(200, 200, 200, 180))

    # -- content -------------------------------------------------------------------------------

    def show(self, pixels: np.ndarray, texture: np.ndarray | None = None) -> None:
        """Display new pixels; ``texture`` is their float buffer from the pool (taken over)."""
        first = self.pixels is None or self.pixels.shape != pixels.shape
        self.pixels = pixels
        if first and self.fit is False and self.pixels is not None:
            self.center = (pixels.shape[1] / 2, pixels.shape[0] / 2)
        if self._magnified():
            self.pool.release(texture)
            self._refresh(force_magnify=True)
            return
        if texture is None:
            from visualizer.texture import to_texture
            texture = to_texture(pixels, self.pool.acquire(*pixels.shape[:2]))
        self._set_buffer(texture, from_pool=True)
        self._layout()

    def set_overlay(self, text: str, dim: bool = False) -> None:
        dpg.configure_item(self._overlay, text=text)
        self._dim = dim
        if self._image_item is not None:
            dpg.configure_item(self._image_item, color=(110, 110, 110, 255) if dim else (255, 255, 255, 255))

    def set_hint(self, text: str) -> None:
        dpg.configure_item(self._hint, text=text)

    # -- view ----------------------------------------------------------------------------------

    def resize(self, width: int, height: int) -> None:
        width, height = max(1, int(width)), max(1, int(height))
        if (width, height) == self._size:
            return
        self._size = (width, height)
        dpg.configure_item(self.drawlist, width=width, height=height)
        dpg.configure_item(self._bg, pmax=(width, height))
        dpg.configure_item(self._hint, pos=(12, height - 24))
        self._refresh()

    def set_fit(self) -> None:
        self.fit = True
        self._refresh()

    def set_zoom(self, zoom: float, anchor: tuple[float, float] | None = None) -> None:
        """Zoom to ``zoom`` keeping the canvas point ``anchor`` (default: centre) fixed."""
        if self.pixels is None:
            return
        zoom = float(min(max(zoom, 1 / 16), 64))
        cur = self.effective_zoom()
        cx, cy = self._effective_center()
        if anchor is not None:
            w, h = self._size
            ax, ay = anchor[0] - w / 2, anchor[1] - h / 2
            # the image point under the anchor stays under it
            px, py = cx + ax / cur, cy + ay / cur
            cx, cy = px - ax / zoom, py - ay / zoom
        self.fit, self.zoom, self.center = False, zoom, (cx, cy)
        self._refresh()

    def zoom_step(self, direction: int, anchor: tuple[float, float] | None = None) -> None:
        """One wheel notch: integer zoom levels at and above 1×, halving/doubling below."""
        z = self.effective_zoom()
        if direction > 0:
            nz = math.floor(z + 1e-6) + 1 if z >= 1 - 1e-6 else min(1.0, 2 ** (math.floor(math.log2(z) + 1e-6) + 1))
        else:
            nz = math.ceil(z - 1e-6) - 1 if z > 1 + 1e-6 else 2 ** (math.ceil(math.log2(z) - 1e-6) - 1)
            nz = max(nz, 1 / 16)
        self.set_zoom(nz, anchor)

    def pan_by(self, dx: float, dy: float) -> None:
        """Move the picture by (dx, dy) screen pixels."""
        if self.pixels is None:
            return
        z = self.effective_zoom()
        cx, cy = self._effective_center()
        self.fit, self.zoom, self.center = False, z, (cx - dx / z, cy - dy / z)
        self._refresh()

    def set_filter(self, mode: str) -> None:
        if mode not in ("nearest", "linear"):
            raise ValueError(f"filter must be nearest or linear, got {mode!r}")
        self.filter = mode
        self._refresh(force_magnify=True)

    def effective_zoom(self) -> float:
        if self.pixels is None:
            return 1.0
        if self.fit:
            h, w = self.pixels.shape[:2]
            return max(min(self._size[0] / w, self._size[1] / h), 1e-3)
        return self.zoom

    def _effective_center(self) -> tuple[float, float]:
        if self.fit and self.pixels is not None:
            return self.pixels.shape[1] / 2, self.pixels.shape[0] / 2
        return self.center

    def image_rect(self) -> tuple[float, float, float, float]:
        """Screen rectangle (drawlist coordinates) of the whole image: x0, y0, x1, y1."""
        if self.pixels is None:
            return (0, 0, 0, 0)
        z = self.effective_zoom()
        cx, cy = self._effective_center()
        w, h = self._size
        x0, y0 = w / 2 - cx * z, h / 2 - cy * z
        return (x0, y0, x0 + self.pixels.shape[1] * z, y0 + self.pixels.shape[0] * z)

    def state(self) -> dict:
        return {"fit": self.fit, "zoom": self.zoom, "filter": self.filter}

    # -- internals -----------------------------------------------------------------------------

    def _magnified(self) -> bool:
        return self.filter == "nearest" and self.effective_zoom() > 1 + 1e-6

    def _refresh(self, force_magnify: bool = False) -> None:
        if self.pixels is None:
            return
        if self._magnified():
            self._show_magnified()
        elif force_magnify or self._buf is None or self._buf.shape[:2] != self.pixels.shape[:2] \
                or not self._buf_from_pool:
            from visualizer.texture import to_texture
            self._set_buffer(to_texture(self.pixels, self.pool.acquire(*self.pixels.shape[:2])), from_pool=True)
        self._layout()

    def _visible_crop(self) -> tuple[int, int, int, int, int]:
        h, w = self.pixels.shape[:2]
        z = self.effective_zoom()
        cx, cy = self._effective_center()
        cw, ch = self._size
        x0 = max(0, math.floor(cx - cw / 2 / z))
        y0 = max(0, math.floor(cy - ch / 2 / z))
        x1 = min(w, math.ceil(cx + cw / 2 / z) + 1)
        y1 = min(h, math.ceil(cy + ch / 2 / z) + 1)
        m = max(1, math.ceil(z - 1e-6))
        while m > 1 and max(x1 - x0, y1 - y0) * m > MAX_MAGNIFIED:
            m -= 1
        return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1), m

    def _show_magnified(self) -> None:
        x0, y0, x1, y1, m = self._visible_crop()
        out = None if self._buf_from_pool else self._buf
        buf = magnify_nearest(self.pixels, x0, y0, x1, y1, m, out=out)
        self._set_buffer(buf, from_pool=False)
        self._crop = (x0, y0, x1, y1)

    def _set_buffer(self, buf: np.ndarray, from_pool: bool) -> None:
        old, old_from_pool = self._buf, self._buf_from_pool
        shape = (buf.shape[0], buf.shape[1])
        if self._tex is None or self._tex_shape != shape:
            with dpg.texture_registry():
                tex = dpg.add_raw_texture(shape[1], shape[0], buf, format=dpg.mvFormat_Float_rgb)
            if self._image_item is None:
                self._image_item = dpg.draw_image(tex, (0, 0), (1, 1), parent=self.drawlist,
                                                  before=self._overlay)
            else:
                dpg.configure_item(self._image_item, texture_tag=tex)
            if self._tex is not None:
                dpg.delete_item(self._tex)
            self._tex, self._tex_shape = tex, shape
            self.pool.drop_other_sizes(shape)
        elif buf is not old:
            dpg.set_value(self._tex, buf)
        self._buf, self._buf_from_pool = buf, from_pool
        if old is not None and old is not buf and old_from_pool:
            self.pool.release(old)

    def _layout(self) -> None:
        if self._image_item is None or self.pixels is None:
            return
        x0, y0, x1, y1 = self.image_rect()
        if self._magnified() and not self._buf_from_pool:
            z = self.effective_zoom()
            cx0, cy0, cx1, cy1 = self._crop
            p0 = (x0 + cx0 * z, y0 + cy0 * z)
            p1 = (x0 + cx1 * z, y0 + cy1 * z)
        else:
            p0, p1 = (x0, y0), (x1, y1)
        # whole screen pixels, so 1:1 and integer zooms sample texel centres exactly
        dpg.configure_item(self._image_item, pmin=(round(p0[0]), round(p0[1])), pmax=(round(p1[0]), round(p1[1])),
                           color=(110, 110, 110, 255) if self._dim else (255, 255, 255, 255))
