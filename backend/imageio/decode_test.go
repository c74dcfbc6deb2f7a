package imageio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testImage returns a w×h NRGBA image with distinct, deterministic colors.
func testImage(w, h int) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / max(w-1, 1)), uint8(y * 255 / max(h-1, 1)), uint8((x + y) % 256), 255})
		}
	}
	return m
}

func encodePNG(t testing.TB, m image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, m); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func encodeJPEG(t testing.TB, m image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pngChunk returns one PNG chunk with its CRC.
func pngChunk(typ string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(len(data)))
	b.WriteString(typ)
	b.Write(data)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	return b.Bytes()
}

// pngWithIHDR returns a PNG signature and IHDR declaring w×h 8-bit RGBA, then a
// tiny IDAT and IEND (the pixel data is far too short for the declared size).
func pngWithIHDR(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // bit depth 8, color type RGBA
	b.Write(pngChunk("IHDR", ihdr))
	b.Write(pngChunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01}))
	b.Write(pngChunk("IEND", nil))
	return b.Bytes()
}

func animatedGIF(t testing.TB) []byte {
	t.Helper()
	pal := color.Palette{color.RGBA{255, 0, 0, 255}, color.RGBA{0, 0, 255, 255}}
	var frames []*image.Paletted
	for i := 0; i < 3; i++ {
		f := image.NewPaletted(image.Rect(0, 0, 6, 4), pal)
		for j := range f.Pix {
			f.Pix[j] = uint8(i % 2)
		}
		frames = append(frames, f)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, &gif.GIF{Image: frames, Delay: []int{1, 1, 1}}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecodeFormats(t *testing.T) {
	src := testImage(32, 24)
	// GIF is lossless for an image that already fits a palette.
	pal := image.NewPaletted(image.Rect(0, 0, 9, 5), color.Palette{
		color.RGBA{255, 0, 0, 255}, color.RGBA{0, 128, 0, 255}, color.RGBA{10, 20, 250, 255}, color.RGBA{255, 255, 255, 255}})
	for i := range pal.Pix {
		pal.Pix[i] = uint8(i * 7 % 4)
	}
	var gifBuf bytes.Buffer
	if err := gif.Encode(&gifBuf, pal, nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, format string
		data         []byte
		src          image.Image
		tol          float64 // largest allowed mean channel difference from src, 0..1
	}{
		{"png", "png", encodePNG(t, src), src, 0},
		{"jpeg", "jpeg", encodeJPEG(t, src), src, 0.03},
		{"gif", "gif", gifBuf.Bytes(), pal, 0},
		{"bmp", "bmp", bmp24(src), src, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, format, err := Decode(tc.data, DefaultLimits())
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if format != tc.format {
				t.Errorf("format %q, want %q", format, tc.format)
			}
			got, want := ToRGB(img), ToRGB(tc.src)
			if got.W != want.W || got.H != want.H {
				t.Fatalf("size %dx%d, want %dx%d", got.W, got.H, want.W, want.H)
			}
			if d := meanAbsDiff(got.Pix, want.Pix); d > tc.tol {
				t.Errorf("mean channel difference %.4f > %.4f", d, tc.tol)
			}
		})
	}
}

// bmp24 encodes m as an uncompressed 24-bit bottom-up BMP, written by hand so
// that the BMP decoder is tested against an independent encoder.
func bmp24(m image.Image) []byte {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	rowLen := (3*w + 3) &^ 3
	var buf bytes.Buffer
	le := binary.LittleEndian
	buf.WriteString("BM")
	binary.Write(&buf, le, uint32(54+rowLen*h))
	binary.Write(&buf, le, uint32(0))
	binary.Write(&buf, le, uint32(54))
	binary.Write(&buf, le, uint32(40))
	binary.Write(&buf, le, int32(w))
	binary.Write(&buf, le, int32(h))
	binary.Write(&buf, le, uint16(1))
	binary.Write(&buf, le, uint16(24))
	binary.Write(&buf, le, [6]uint32{0, uint32(rowLen * h), 2835, 2835, 0, 0})
	for y := h - 1; y >= 0; y-- {
		row := make([]byte, rowLen)
		for x := 0; x < w; x++ {
			r, g, bl, _ := m.At(b.Min.X+x, b.Min.Y+y).RGBA()
			row[3*x], row[3*x+1], row[3*x+2] = byte(bl>>8), byte(g>>8), byte(r>>8)
		}
		buf.Write(row)
	}
	return buf.Bytes()
}

// webpLossless2x2 returns testdata/lossless_2x2.webp, a 2×2 lossless WebP
// written by PIL (scripts/fixtures/imageio.py): red, green / blue, white.
func webpLossless2x2() []byte {
	b, err := os.ReadFile(filepath.Join("testdata", "lossless_2x2.webp"))
	if err != nil {
		panic(err)
	}
	return b
}

func meanAbsDiff(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += math.Abs(float64(a[i] - b[i]))
	}
	return s / float64(len(a))
}

func maxAbsDiff(a, b []float32) float64 {
	var m float64
	for i := range a {
		d := float64(a[i] - b[i])
		if d < 0 {
			d = -d
		}
		m = max(m, d)
	}
	return m
}

func TestDecodeHostile(t *testing.T) {
	good := encodePNG(t, testImage(16, 16))
	goodJPEG := encodeJPEG(t, testImage(64, 48))
	lim := DefaultLimits()
	for _, tc := range []struct {
		name string
		data []byte
		lim  Limits
		want string // substring of the error
	}{
		{"empty", nil, lim, "unrecognised format"},
		{"text named .png", []byte("hello, this is a text file\n"), lim, "not an image (unrecognised format)"},
		{"png bomb 50000x50000", pngWithIHDR(50000, 50000), lim, "declared size 50000x50000"},
		{"png over pixel limit", pngWithIHDR(9000, 9000), lim, "exceeds the limit of 40000000 pixels"},
		{"png zero width", pngWithIHDR(0, 10), lim, "not a valid or complete image"},
		{"png max uint32", pngWithIHDR(0x7fffffff, 0x7fffffff), lim, "not a valid or complete image"},
		{"png truncated header", good[:20], lim, "not a valid or complete image"},
		{"png truncated pixels", good[:len(good)-30], lim, "not a valid or complete image"},
		{"png corrupt crc", corruptByte(good, 40), lim, "not a valid or complete image"},
		{"jpeg truncated", goodJPEG[:len(goodJPEG)/2], lim, "not a valid or complete image"},
		{"jpeg header only", goodJPEG[:2], lim, "not a valid or complete image"},
		{"over byte limit", good, Limits{MaxBytes: 10, MaxPixels: 1 << 30, MaxSide: 1 << 20}, "exceeds the limit of 10 bytes"},
		{"over side limit", good, Limits{MaxBytes: 1 << 30, MaxPixels: 1 << 30, MaxSide: 15}, "16x16 exceeds the limit of 15 pixels per side"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, _, err := Decode(tc.data, tc.lim)
			if err == nil {
				t.Fatalf("Decode succeeded (%v), want error containing %q", img.Bounds(), tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
	_, _, err := Decode([]byte("plain text"), lim)
	if !errors.Is(err, ErrUnrecognised) {
		t.Errorf("text: error %v does not wrap ErrUnrecognised", err)
	}
}

// TestZeroSizeBMP checks that a header declaring no pixels is refused by our
// size check (the BMP decoder itself accepts it).
func TestZeroSizeBMP(t *testing.T) {
	data := bmp24(image.NewRGBA(image.Rect(0, 0, 0, 0)))
	_, _, err := Decode(data, DefaultLimits())
	if err == nil || !strings.Contains(err.Error(), "0x0 has no pixels") {
		t.Fatalf("err = %v, want declared size 0x0 has no pixels", err)
	}
}

func corruptByte(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0xFF
	return c
}

func TestDecodeOnePixelAndAnimatedGIF(t *testing.T) {
	one := image.NewNRGBA(image.Rect(0, 0, 1, 1))
	one.Pix = []uint8{10, 20, 30, 255}
	img, _, err := Decode(encodePNG(t, one), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	rgb := ToRGB(img)
	want := []float32{10.0 / 255, 20.0 / 255, 30.0 / 255}
	if rgb.W != 1 || rgb.H != 1 || maxAbsDiff(rgb.Pix, want) > 1e-7 {
		t.Errorf("1x1: got %dx%d %v, want 1x1 %v", rgb.W, rgb.H, rgb.Pix, want)
	}

	// Animated GIF: the first frame (all red) is returned.
	img, format, err := Decode(animatedGIF(t), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	rgb = ToRGB(img)
	if format != "gif" || rgb.W != 6 || rgb.H != 4 {
		t.Fatalf("gif: %s %dx%d", format, rgb.W, rgb.H)
	}
	for i := 0; i < len(rgb.Pix); i += 3 {
		if rgb.Pix[i] != 1 || rgb.Pix[i+1] != 0 || rgb.Pix[i+2] != 0 {
			t.Fatalf("gif pixel %d = %v, want red (first frame)", i/3, rgb.Pix[i:i+3])
		}
	}
}

func TestDecodeWebP(t *testing.T) {
	img, format, err := Decode(webpLossless2x2(), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if format != "webp" {
		t.Fatalf("format %q", format)
	}
	rgb := ToRGB(img)
	want := []float32{1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1}
	if rgb.W != 2 || rgb.H != 2 || maxAbsDiff(rgb.Pix, want) != 0 {
		t.Errorf("got %dx%d %v, want 2x2 %v", rgb.W, rgb.H, rgb.Pix, want)
	}
}

func TestDecodeFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.png")
	if err := os.WriteFile(good, encodePNG(t, testImage(5, 3)), 0o644); err != nil {
		t.Fatal(err)
	}
	text := filepath.Join(dir, "notes.png")
	if err := os.WriteFile(text, []byte("not really a png"), 0o644); err != nil {
		t.Fatal(err)
	}
	img, err := DecodeFile(good, DefaultLimits())
	if err != nil || img.Bounds().Dx() != 5 || img.Bounds().Dy() != 3 {
		t.Fatalf("DecodeFile(good) = %v, %v", img, err)
	}
	for _, tc := range []struct {
		path string
		lim  Limits
		want string
	}{
		{text, DefaultLimits(), "notes.png: imageio: decode: not an image (unrecognised format)"},
		{filepath.Join(dir, "missing.png"), DefaultLimits(), "missing.png"},
		{good, Limits{MaxBytes: 8}, "good.png: "},
		{dir, DefaultLimits(), "not a regular file"},
	} {
		_, err := DecodeFile(tc.path, tc.lim)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("DecodeFile(%s): err = %v, want it to contain %q", tc.path, err, tc.want)
		}
	}
}

func TestToRGBColorModels(t *testing.T) {
	const w, h = 3, 2
	// Reference: 16-bit values through color.RGBA64 composited over white.
	nrgba := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range nrgba.Pix {
		nrgba.Pix[i] = uint8(i*37 + 11)
	}
	nrgba.Pix[3] = 0   // fully transparent pixel → white
	nrgba.Pix[7] = 128 // half transparent
	rgba := image.NewRGBA(nrgba.Bounds())
	gray := image.NewGray(nrgba.Bounds())
	ycc := image.NewYCbCr(nrgba.Bounds(), image.YCbCrSubsampleRatio444)
	gray16 := image.NewGray16(nrgba.Bounds())
	cmyk := image.NewCMYK(nrgba.Bounds())
	pal := image.NewPaletted(nrgba.Bounds(), palette.Plan9)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := nrgba.At(x, y)
			rgba.Set(x, y, c)
			gray.Set(x, y, c)
			gray16.Set(x, y, c)
			cmyk.Set(x, y, c)
			pal.Set(x, y, c)
			r, g, b, _ := c.RGBA()
			yy, cb, cr := color.RGBToYCbCr(uint8(r>>8), uint8(g>>8), uint8(b>>8))
			ycc.Y[ycc.YOffset(x, y)], ycc.Cb[ycc.COffset(x, y)], ycc.Cr[ycc.COffset(x, y)] = yy, cb, cr
		}
	}
	// Half transparent pixel (1,0): alpha 128/255 over white.
	a := 128.0 / 255
	if got, want := ToRGB(nrgba).Pix[3], float32(float64(nrgba.Pix[4])/255*a+1-a); abs32(got-want) > 1e-6 {
		t.Errorf("half-transparent red = %v, want %v", got, want)
	}
	if got := ToRGB(nrgba).Pix[:3]; got[0] != 1 || got[1] != 1 || got[2] != 1 {
		t.Errorf("transparent pixel = %v, want white", got)
	}
	// Every fast path must agree with the generic path (At + RGBA64) on the same image.
	for _, tc := range []struct {
		name string
		img  image.Image
		tol  float64
	}{
		{"nrgba", nrgba, 2e-5}, // the reference rounds to 16 bits
		{"rgba", rgba, 1e-6},
		{"gray", gray, 1e-6},
		{"ycbcr", ycc, 3e-3}, // exact JFIF vs color.YCbCr's fixed point, which scales chroma by 256/257
		{"gray16", gray16, 1e-6},
		{"cmyk", cmyk, 1e-6},
		{"paletted", pal, 1e-6},
	} {
		got := ToRGB(tc.img)
		want := genericRGB(tc.img)
		if d := maxAbsDiff(got.Pix, want.Pix); d > tc.tol {
			t.Errorf("%s: fast path differs from color model by %g", tc.name, d)
		}
	}
	// Sub-images start at their own Min.
	sub := nrgba.SubImage(image.Rect(1, 1, 3, 2))
	got := ToRGB(sub)
	if got.W != 2 || got.H != 1 || maxAbsDiff(got.Pix, ToRGB(nrgba).Pix[12:18]) != 0 {
		t.Errorf("sub-image: %dx%d %v", got.W, got.H, got.Pix)
	}
}

// genericRGB is ToRGB's reference: each pixel through color.Color.RGBA.
func genericRGB(img image.Image) *RGB {
	b := img.Bounds()
	out := NewRGB(b.Dx(), b.Dy())
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			r, g, bl, a := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			i := (y*b.Dx() + x) * 3
			out.Pix[i] = float32(float64(r+0xffff-a) / 0xffff)
			out.Pix[i+1] = float32(float64(g+0xffff-a) / 0xffff)
			out.Pix[i+2] = float32(float64(bl+0xffff-a) / 0xffff)
		}
	}
	return out
}

func abs32(v float32) float32 {
	if v < 0 {
		return -v
	}
	return v
}

func FuzzDecode(f *testing.F) {
	f.Add(encodePNG(f, testImage(4, 3)))
	f.Add(encodeJPEG(f, testImage(9, 7)))
	f.Add(withOrientation(encodeJPEG(f, testImage(9, 7)), 6, false))
	f.Add(animatedGIF(f))
	f.Add(bmp24(testImage(3, 2)))
	f.Add(webpLossless2x2())
	f.Add(pngWithIHDR(50000, 50000))
	f.Add(webpBomb(3000, 3000))
	f.Add([]byte("text"))
	lim := Limits{MaxBytes: 1 << 20, MaxPixels: 1 << 20, MaxSide: 4096}
	f.Fuzz(func(t *testing.T, data []byte) {
		img, _, err := Decode(data, lim)
		if err != nil {
			return
		}
		b := img.Bounds()
		if b.Dx() <= 0 || b.Dy() <= 0 || int64(b.Dx())*int64(b.Dy()) > lim.MaxPixels {
			t.Fatalf("Decode returned a %v image", b)
		}
		rgb := ToRGB(img)
		if len(rgb.Pix) != b.Dx()*b.Dy()*3 {
			t.Fatalf("ToRGB: %d values for %v", len(rgb.Pix), b)
		}
	})
}

// webpBomb returns a WebP whose VP8X canvas is 1×1 but whose VP8L bitstream
// declares w×h (followed by no pixel data).
func webpBomb(w, h int) []byte {
	le := binary.LittleEndian
	vp8x := make([]byte, 10) // flags 0, canvas width−1 = 0, height−1 = 0
	vp8l := []byte{0x2f}
	vp8l = le.AppendUint32(vp8l, uint32(w-1)|uint32(h-1)<<14)
	var body []byte
	body = append(body, "WEBP"...)
	body = append(body, "VP8X"...)
	body = le.AppendUint32(body, uint32(len(vp8x)))
	body = append(body, vp8x...)
	body = append(body, "VP8L"...)
	body = le.AppendUint32(body, uint32(len(vp8l)))
	body = append(body, vp8l...)
	body = append(body, 0) // pad to even
	out := append([]byte("RIFF"), le.AppendUint32(nil, uint32(len(body)))...)
	return append(out, body...)
}

func TestWebPFrameBomb(t *testing.T) {
	data := webpBomb(16000, 16000)
	w, h, ok := webpFrameSize(data)
	if !ok || w != 16000 || h != 16000 {
		t.Fatalf("webpFrameSize = %d, %d, %v", w, h, ok)
	}
	// image.DecodeConfig only sees the 1×1 canvas.
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || cfg.Width != 1 || cfg.Height != 1 {
		t.Fatalf("DecodeConfig = %+v, %v (the test no longer models the bypass)", cfg, err)
	}
	_, _, err = Decode(data, DefaultLimits())
	if err == nil || !strings.Contains(err.Error(), "decode webp frame: declared size 16000x16000 exceeds the limit of 12000 pixels per side") {
		t.Fatalf("err = %v", err)
	}
	// The real 2×2 file's frame header is read too.
	if w, h, ok := webpFrameSize(webpLossless2x2()); !ok || w != 2 || h != 2 {
		t.Errorf("lossless 2x2: %d, %d, %v", w, h, ok)
	}
}

func FuzzWebPFrameSize(f *testing.F) {
	f.Add(webpBomb(300, 200))
	f.Add(webpLossless2x2())
	f.Fuzz(func(t *testing.T, data []byte) {
		w, h, ok := webpFrameSize(data)
		if ok && (w < 0 || h < 0 || w > 1<<14 || h > 1<<14) {
			t.Fatalf("size %dx%d", w, h)
		}
	})
}
