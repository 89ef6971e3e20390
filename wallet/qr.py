"""QR codes: reading offers and requests from photos, and showing presentations to offline counters.

Decoding uses zxing-cpp on a Pillow image whose size is bounded before it is
decoded (a hostile "photo" must not exhaust memory). Encoding uses the
``qrcode`` library at error correction level L, whose largest symbol (version
40, 177x177 modules) holds 2953 bytes in byte mode: a presentation that does
not fit is refused with its size, never truncated.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

from .errors import OutputError, QRDecodeError, QRTooLarge

__all__ = ["MAX_IMAGE_BYTES", "MAX_IMAGE_PIXELS", "QR_V40_L_BYTES", "decode_image", "make_qr", "terminal_text",
           "save_qr"]

MAX_IMAGE_BYTES = 25 * 1024 * 1024
MAX_IMAGE_PIXELS = 50_000_000
QR_V40_L_BYTES = 2953
"""ISO/IEC 18004 table 7: version 40, error correction L, byte mode."""


def decode_image(path: Path | str) -> str:
    """The text of the one QR code in the image at ``path``."""
    import PIL.Image
    import zxingcpp

    path = Path(path)
    try:
        if path.stat().st_size > MAX_IMAGE_BYTES:
            raise QRDecodeError("the image file is too large (over 25 MiB)")
        with warnings.catch_warnings():
            # Our own pixel limit (below Pillow's) refuses these with a clear message; no stray warning.
            warnings.simplefilter("ignore", PIL.Image.DecompressionBombWarning)
            image = PIL.Image.open(path)
        with image:
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise QRDecodeError("the image has too many pixels to be a photo of a QR code")
            image.load()
            gray = image.convert("L")
    except QRDecodeError:
        raise
    except Exception as exc:
        # Pillow's decoders raise more than OSError/ValueError on malformed files: SyntaxError for an
        # unknown zTXt compression, IndexError for an iCCP chunk after the image data (fuzz finding 9).
        # Whatever Pillow raises on these bytes means the same: not a readable picture.
        raise QRDecodeError("the file is not a readable image (PNG, JPEG, ...)") from exc
    try:
        found = zxingcpp.read_barcodes(gray, formats=zxingcpp.BarcodeFormat.QRCode)
    except Exception as exc:  # The decoder's own failures: the image is the problem.
        raise QRDecodeError("the QR decoder could not read the image") from exc
    texts = {b.text for b in found if getattr(b, "valid", True) and b.text}
    if not texts:
        raise QRDecodeError("no QR code was found in the image")
    if len(texts) > 1:
        raise QRDecodeError("the image holds more than one QR code; crop it to the one you mean")
    return texts.pop()


def make_qr(text: str) -> Any:
    """A QR code for ``text`` at level L, or :class:`QRTooLarge` if even version 40 is too small."""
    import qrcode
    import qrcode.constants
    import qrcode.exceptions

    size = len(text.encode("utf-8"))
    if size > QR_V40_L_BYTES:
        raise QRTooLarge(f"the presentation is {size} bytes; a QR code holds at most {QR_V40_L_BYTES}")
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_L, border=4)
    code.add_data(text.encode("utf-8"))
    try:
        code.make(fit=True)
    except (ValueError, qrcode.exceptions.DataOverflowError) as exc:
        raise QRTooLarge(f"the presentation is {size} bytes and does not fit a version 40 QR code") from exc
    return code


def terminal_text(code: Any) -> str:
    """The QR code drawn with block characters, for a terminal."""
    out = io.StringIO()
    code.print_ascii(out=out, invert=True)
    return out.getvalue()


def save_qr(code: Any, path: Path) -> None:
    """Write the QR code as PNG or SVG, chosen by the file's suffix; :class:`OutputError` if it cannot be written."""
    try:
        _save_qr(code, path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _save_qr(code: Any, path: Path) -> None:
    suffix = path.suffix.lower()
    if suffix == ".svg":
        import qrcode.image.svg

        image = code.make_image(image_factory=qrcode.image.svg.SvgPathImage)
        with open(path, "wb") as handle:
            image.save(handle)
    elif suffix == ".png":
        image = code.make_image(fill_color="black", back_color="white")
        with open(path, "wb") as handle:
            image.save(handle)
    else:
        raise ValueError("the QR output file must end in .png or .svg")
