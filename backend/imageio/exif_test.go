package imageio

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"testing"
)

// exifAPP1 returns an APP1 segment holding a TIFF structure whose IFD0 has an
// unrelated tag followed by Orientation = o.
func exifAPP1(o int, bigEndian bool) []byte {
	var bo binary.AppendByteOrder = binary.LittleEndian
	tiff := []byte("II*\x00")
	if bigEndian {
		bo = binary.BigEndian
		tiff = []byte("MM\x00*")
	}
	tiff = bo.AppendUint32(tiff, 8)
	tiff = bo.AppendUint16(tiff, 2)
	// ImageWidth (0x0100), LONG, 1, 640.
	tiff = bo.AppendUint16(tiff, 0x0100)
	tiff = bo.AppendUint16(tiff, 4)
	tiff = bo.AppendUint32(tiff, 1)
	tiff = bo.AppendUint32(tiff, 640)
	// Orientation (0x0112), SHORT, 1, o (left-justified in the value field).
	tiff = bo.AppendUint16(tiff, 0x0112)
	tiff = bo.AppendUint16(tiff, 3)
	tiff = bo.AppendUint32(tiff, 1)
	tiff = bo.AppendUint16(tiff, uint16(o))
	tiff = bo.AppendUint16(tiff, 0)
	tiff = bo.AppendUint32(tiff, 0) // next IFD
	payload := append([]byte("Exif\x00\x00"), tiff...)
	seg := []byte{0xFF, 0xE1}
	seg = binary.BigEndian.AppendUint16(seg, uint16(len(payload)+2))
	return append(seg, payload...)
}

// withOrientation inserts an EXIF APP1 segment with orientation o right after
// the SOI marker of a JPEG, behind an XMP-like APP1 that must be skipped.
func withOrientation(jpg []byte, o int, bigEndian bool) []byte {
	xmp := append([]byte("http://ns.adobe.com/xap/1.0/\x00"), []byte("<x/>")...)
	other := []byte{0xFF, 0xE1}
	other = binary.BigEndian.AppendUint16(other, uint16(len(xmp)+2))
	other = append(other, xmp...)
	var out []byte
	out = append(out, jpg[:2]...)
	out = append(out, other...)
	out = append(out, exifAPP1(o, bigEndian)...)
	return append(out, jpg[2:]...)
}

func TestJPEGOrientationParser(t *testing.T) {
	base := encodeJPEG(t, testImage(8, 8))
	for o := 1; o <= 8; o++ {
		for _, be := range []bool{false, true} {
			if got := jpegOrientation(withOrientation(base, o, be)); got != o {
				t.Errorf("orientation %d (big endian %v): parsed %d", o, be, got)
			}
		}
	}
	badTag := withOrientation(base, 9, false)
	truncated := withOrientation(base, 6, false)[:40]
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"no exif", base},
		{"value 9", badTag},
		{"truncated inside exif", truncated},
		{"not jpeg", []byte("II*\x00\x08\x00\x00\x00")},
		{"empty", nil},
		{"soi only", []byte{0xFF, 0xD8}},
		{"bad segment length", []byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x01, 0, 0}},
		{"huge segment length", []byte{0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF, 'E', 'x'}},
	} {
		if got := jpegOrientation(tc.data); got != 1 {
			t.Errorf("%s: parsed %d, want 1", tc.name, got)
		}
	}
	// A TIFF IFD offset pointing outside the segment.
	seg := exifAPP1(6, false)
	binary.LittleEndian.PutUint32(seg[4+6+4:], 1<<30)
	data := append(append([]byte{0xFF, 0xD8}, seg...), base[2:]...)
	if got := jpegOrientation(data); got != 1 {
		t.Errorf("bad IFD offset: parsed %d, want 1", got)
	}
}

// TestDecodeOrientation decodes a 16×8 JPEG made of four flat quadrants
// (red, green / blue, white) stored with each EXIF orientation and checks the
// upright result against the EXIF specification's table.
func TestDecodeOrientation(t *testing.T) {
	const w, h = 16, 8
	red, green, blue, white := color.RGBA{255, 0, 0, 255}, color.RGBA{0, 255, 0, 255}, color.RGBA{0, 0, 255, 255}, color.RGBA{255, 255, 255, 255}
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := [2][2]color.RGBA{{red, green}, {blue, white}}[y/(h/2)][x/(w/2)]
			m.SetRGBA(x, y, c)
		}
	}
	jpg := encodeJPEG(t, m)
	// Upright quadrant colors [top-left, top-right, bottom-left, bottom-right]
	// of the stored image R G / B W for each orientation.
	R, G, B, W := 'R', 'G', 'B', 'W'
	want := map[int][4]rune{
		1: {R, G, B, W},
		2: {G, R, W, B}, // mirrored horizontally
		3: {W, B, G, R}, // rotated 180°
		4: {B, W, R, G}, // mirrored vertically
		5: {R, B, G, W}, // transposed
		6: {B, R, W, G}, // rotated 90° clockwise
		7: {W, G, B, R}, // transversed
		8: {G, W, R, B}, // rotated 90° counter-clockwise
	}
	for o := 1; o <= 8; o++ {
		img, _, err := Decode(withOrientation(jpg, o, o%2 == 0), DefaultLimits())
		if err != nil {
			t.Fatalf("orientation %d: %v", o, err)
		}
		rgb := ToRGB(img)
		ww, wh := w, h
		if o >= 5 {
			ww, wh = h, w
		}
		if rgb.W != ww || rgb.H != wh {
			t.Fatalf("orientation %d: size %dx%d, want %dx%d", o, rgb.W, rgb.H, ww, wh)
		}
		probe := [4][2]int{{ww / 4, wh / 4}, {3 * ww / 4, wh / 4}, {ww / 4, 3 * wh / 4}, {3 * ww / 4, 3 * wh / 4}}
		for q, p := range probe {
			i := (p[1]*rgb.W + p[0]) * 3
			if got := classify(rgb.Pix[i : i+3]); got != want[o][q] {
				t.Errorf("orientation %d quadrant %d: %c, want %c", o, q, got, want[o][q])
			}
		}
	}
}

func classify(c []float32) rune {
	hi := func(v float32) bool { return v > 0.5 }
	switch {
	case hi(c[0]) && hi(c[1]) && hi(c[2]):
		return 'W'
	case hi(c[0]):
		return 'R'
	case hi(c[1]):
		return 'G'
	case hi(c[2]):
		return 'B'
	}
	return '?'
}

func TestApplyOrientationGray(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 3, 2))
	copy(g.Pix, []uint8{1, 2, 3, 4, 5, 6}) // 1 2 3 / 4 5 6
	for _, tc := range []struct {
		o    int
		want []uint8
	}{
		{2, []uint8{3, 2, 1, 6, 5, 4}},
		{3, []uint8{6, 5, 4, 3, 2, 1}},
		{4, []uint8{4, 5, 6, 1, 2, 3}},
		{5, []uint8{1, 4, 2, 5, 3, 6}},
		{6, []uint8{4, 1, 5, 2, 6, 3}},
		{7, []uint8{6, 3, 5, 2, 4, 1}},
		{8, []uint8{3, 6, 2, 5, 1, 4}},
	} {
		out, ok := applyOrientation(g, tc.o).(*image.Gray)
		if !ok || !bytes.Equal(out.Pix, tc.want) {
			t.Errorf("orientation %d: got %v, want %v", tc.o, out.Pix, tc.want)
		}
	}
}

func FuzzJPEGOrientation(f *testing.F) {
	base := []byte{0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02}
	f.Add(withOrientation(base, 6, false))
	f.Add(withOrientation(base, 3, true))
	f.Add(base)
	f.Fuzz(func(t *testing.T, data []byte) {
		if o := jpegOrientation(data); o < 1 || o > 8 {
			t.Fatalf("orientation %d out of range", o)
		}
	})
}
