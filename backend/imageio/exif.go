package imageio

import (
	"encoding/binary"
	"image"
	"image/draw"
)

// jpegOrientation returns the EXIF orientation (1..8) of the JPEG in data,
// or 1 when the data has no readable orientation tag. It only walks the
// marker segments before the first scan and the first IFD of an APP1 "Exif"
// segment; it never reads outside data.
func jpegOrientation(data []byte) int {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return 1
	}
	p := 2
	for p+4 <= len(data) {
		if data[p] != 0xFF {
			return 1
		}
		m := data[p+1]
		switch {
		case m == 0xFF: // fill byte
			p++
			continue
		case m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7): // no length
			p += 2
			continue
		case m == 0xDA || m == 0xD9: // start of scan, end of image
			return 1
		}
		n := int(binary.BigEndian.Uint16(data[p+2:]))
		if n < 2 || p+2+n > len(data) {
			return 1
		}
		seg := data[p+4 : p+2+n]
		if m == 0xE1 && len(seg) >= 6 && string(seg[:6]) == "Exif\x00\x00" {
			if o, ok := tiffOrientation(seg[6:]); ok {
				return o
			}
		}
		p += 2 + n
	}
	return 1
}

// tiffOrientation reads the Orientation tag (0x0112) of IFD0 of a TIFF
// structure. ok is false when the structure is malformed or has no valid tag.
func tiffOrientation(t []byte) (o int, ok bool) {
	if len(t) < 8 {
		return 0, false
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 0, false
	}
	if bo.Uint16(t[2:]) != 42 {
		return 0, false
	}
	off := uint64(bo.Uint32(t[4:]))
	if off < 8 || off+2 > uint64(len(t)) {
		return 0, false
	}
	n := uint64(bo.Uint16(t[off:]))
	for i := uint64(0); i < n; i++ {
		e := off + 2 + 12*i
		if e+12 > uint64(len(t)) {
			return 0, false
		}
		if bo.Uint16(t[e:]) != 0x0112 {
			continue
		}
		typ, count := bo.Uint16(t[e+2:]), bo.Uint32(t[e+4:])
		if count < 1 {
			return 0, false
		}
		var v uint32
		switch typ {
		case 3: // SHORT
			v = uint32(bo.Uint16(t[e+8:]))
		case 4: // LONG
			v = bo.Uint32(t[e+8:])
		default:
			return 0, false
		}
		if v < 1 || v > 8 {
			return 0, false
		}
		return int(v), true
	}
	return 0, false
}

// applyOrientation returns img transformed so that it displays upright for
// EXIF orientation o (2..8). The result is an *image.Gray for gray input and
// an *image.RGBA otherwise.
func applyOrientation(img image.Image, o int) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	ow, oh := w, h
	if o >= 5 {
		ow, oh = h, w
	}
	// dst(x', y') = src(mapping); srcIndex maps destination coordinates to source ones.
	src := func(x, y int) (int, int) {
		switch o {
		case 2: // mirror horizontally
			return w - 1 - x, y
		case 3: // rotate 180
			return w - 1 - x, h - 1 - y
		case 4: // mirror vertically
			return x, h - 1 - y
		case 5: // transpose
			return y, x
		case 6: // rotate 90 clockwise to display
			return y, h - 1 - x
		case 7: // transverse
			return w - 1 - y, h - 1 - x
		case 8: // rotate 90 counter-clockwise to display
			return w - 1 - y, x
		}
		return x, y
	}
	if g, isGray := img.(*image.Gray); isGray {
		out := image.NewGray(image.Rect(0, 0, ow, oh))
		for y := 0; y < oh; y++ {
			row := out.Pix[y*out.Stride : y*out.Stride+ow]
			for x := range row {
				sx, sy := src(x, y)
				row[x] = g.Pix[g.PixOffset(b.Min.X+sx, b.Min.Y+sy)]
			}
		}
		return out
	}
	rgba, isRGBA := img.(*image.RGBA)
	if !isRGBA {
		rgba = image.NewRGBA(image.Rect(0, 0, w, h))
		draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Src)
		b = rgba.Bounds()
	}
	out := image.NewRGBA(image.Rect(0, 0, ow, oh))
	for y := 0; y < oh; y++ {
		row := out.Pix[y*out.Stride : y*out.Stride+4*ow]
		for x := 0; x < ow; x++ {
			sx, sy := src(x, y)
			i := rgba.PixOffset(b.Min.X+sx, b.Min.Y+sy)
			copy(row[4*x:4*x+4], rgba.Pix[i:i+4])
		}
	}
	return out
}
