// Package imageio decodes untrusted image data safely and converts it into
// the float RGB layout the feature extractors consume.
//
// Decode checks the byte size and the declared dimensions (read from the
// header with image.DecodeConfig) before any pixel is decoded, so that a small
// file declaring a huge canvas (a decompression bomb) is refused without
// allocating it (for WebP the bitstream's own size is checked as well, since
// it may differ from the VP8X canvas). Supported formats are PNG, JPEG, GIF,
// BMP and WebP. For an animated GIF only the first frame is decoded. JPEG EXIF orientation is
// honoured, so the returned image is upright as a viewer would show it.
//
// ToRGB turns any decoded image into an RGB value (H×W×3 float32 in 0..1,
// row-major); ResizeRGB resamples it with antialiased bicubic interpolation
// matching PIL's Image.resize(..., BICUBIC).
package imageio

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"io"
	"os"

	// Decoders register themselves with package image.
	_ "image/gif"
	_ "image/jpeg"
	_ "image/png"

	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/webp"
)

// Limits bounds what Decode accepts. A zero or negative field means no limit.
// Decoded pixels take up to 8 bytes each (16-bit RGBA), so MaxPixels bounds
// the memory one decode needs.
type Limits struct {
	// MaxBytes is the largest encoded size accepted, in bytes.
	MaxBytes int64
	// MaxPixels is the largest declared width×height accepted.
	MaxPixels int64
	// MaxSide is the largest declared width or height accepted, in pixels.
	MaxSide int
}

// DefaultLimits returns limits suitable for uploads and datasets: 20 MiB,
// 40 megapixels and 12000 pixels per side.
func DefaultLimits() Limits {
	return Limits{MaxBytes: 20 << 20, MaxPixels: 40_000_000, MaxSide: 12000}
}

// ErrUnrecognised is returned (wrapped) when the data is not in a supported
// image format.
var ErrUnrecognised = errors.New("not an image (unrecognised format)")

// Decode decodes an image held in data after checking it against lim. It
// returns the image and the format name ("png", "jpeg", "gif", "bmp" or
// "webp").
//
// The declared size is checked before decoding: zero width or height, a side
// over lim.MaxSide or an area over lim.MaxPixels is refused. Corrupt or
// truncated data yields an error saying the data is not a valid or complete
// image that wraps the decoder's error; data in no supported format yields an
// error wrapping ErrUnrecognised. A panic inside a decoder is recovered and
// returned as an error. For GIF only the first frame is returned. For JPEG the
// EXIF orientation (if any) is applied, so the result may be rotated and have
// width and height swapped relative to the stored pixels.
func Decode(data []byte, lim Limits) (image.Image, string, error) {
	if len(data) == 0 {
		return nil, "", fmt.Errorf("imageio: decode: empty data: %w", ErrUnrecognised)
	}
	if lim.MaxBytes > 0 && int64(len(data)) > lim.MaxBytes {
		return nil, "", fmt.Errorf("imageio: decode: %d bytes exceeds the limit of %d bytes", len(data), lim.MaxBytes)
	}
	cfg, format, err := decodeConfig(data)
	if err != nil {
		return nil, "", err
	}
	if err := checkSize(cfg.Width, cfg.Height, lim); err != nil {
		return nil, format, fmt.Errorf("imageio: decode %s: %w", format, err)
	}
	if format == "webp" {
		if w, h, ok := webpFrameSize(data); ok {
			if err := checkSize(w, h, lim); err != nil {
				return nil, format, fmt.Errorf("imageio: decode webp frame: %w", err)
			}
		}
	}
	img, err := decodePixels(data, format)
	if err != nil {
		return nil, format, err
	}
	if b := img.Bounds(); b.Dx() <= 0 || b.Dy() <= 0 {
		return nil, format, fmt.Errorf("imageio: decode %s: decoded image is empty (%dx%d)", format, b.Dx(), b.Dy())
	}
	if format == "jpeg" {
		if o := jpegOrientation(data); o != 1 {
			img = applyOrientation(img, o)
		}
	}
	return img, format, nil
}

// DecodeFile reads the file at path and decodes it with Decode. The file size
// is checked against lim.MaxBytes before it is read. Errors name the file.
func DecodeFile(path string, lim Limits) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("imageio: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("imageio: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("imageio: %s: not a regular file", path)
	}
	if lim.MaxBytes > 0 && st.Size() > lim.MaxBytes {
		return nil, fmt.Errorf("imageio: %s: %d bytes exceeds the limit of %d bytes", path, st.Size(), lim.MaxBytes)
	}
	r := io.Reader(f)
	if lim.MaxBytes > 0 {
		// The file may grow between Stat and ReadAll; never read past the limit+1.
		r = io.LimitReader(f, lim.MaxBytes+1)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("imageio: read %s: %w", path, err)
	}
	img, _, err := Decode(data, lim)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}

// checkSize validates declared dimensions against lim.
func checkSize(w, h int, lim Limits) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("declared size %dx%d has no pixels", w, h)
	}
	if lim.MaxSide > 0 && (w > lim.MaxSide || h > lim.MaxSide) {
		return fmt.Errorf("declared size %dx%d exceeds the limit of %d pixels per side", w, h, lim.MaxSide)
	}
	if lim.MaxPixels > 0 && int64(w)*int64(h) > lim.MaxPixels {
		return fmt.Errorf("declared size %dx%d (%d pixels) exceeds the limit of %d pixels", w, h, int64(w)*int64(h), lim.MaxPixels)
	}
	return nil
}

// decodeConfig reads the header, recovering from decoder panics.
func decodeConfig(data []byte) (cfg image.Config, format string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("imageio: decode %s header: data is not a valid image (decoder panic: %v)", format, r)
		}
	}()
	cfg, format, err = image.DecodeConfig(bytes.NewReader(data))
	if errors.Is(err, image.ErrFormat) {
		return cfg, "", fmt.Errorf("imageio: decode: %w", ErrUnrecognised)
	}
	if err != nil {
		return cfg, format, fmt.Errorf("imageio: decode %s header: data is not a valid or complete image: %w", format, err)
	}
	return cfg, format, nil
}

// decodePixels decodes the whole image, recovering from decoder panics.
func decodePixels(data []byte, format string) (img image.Image, err error) {
	defer func() {
		if r := recover(); r != nil {
			img = nil
			err = fmt.Errorf("imageio: decode %s: data is not a valid image (decoder panic: %v)", format, r)
		}
	}()
	img, _, err = image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("imageio: decode %s: data is not a valid or complete image: %w", format, err)
	}
	return img, nil
}
