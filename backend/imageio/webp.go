package imageio

import "encoding/binary"

// webpFrameSize returns the dimensions declared by the first VP8 or VP8L
// bitstream of a WebP file. image.DecodeConfig reports the VP8X canvas when
// there is one, but the decoder allocates what the bitstream declares, so a
// tiny canvas in front of a huge frame would otherwise slip past the limits.
// ok is false when no frame header can be read (the decoder then fails).
func webpFrameSize(data []byte) (w, h int, ok bool) {
	if len(data) < 12 || string(data[:4]) != "RIFF" || string(data[8:12]) != "WEBP" {
		return 0, 0, false
	}
	p := 12
	for p+8 <= len(data) {
		fourcc := string(data[p : p+4])
		n := uint64(binary.LittleEndian.Uint32(data[p+4:]))
		body := data[p+8:]
		if n < uint64(len(body)) {
			body = body[:n]
		}
		switch fourcc {
		case "VP8 ":
			// Frame tag (3 bytes), start code 9d 01 2a, 14-bit width and height.
			if len(body) < 10 || body[3] != 0x9d || body[4] != 0x01 || body[5] != 0x2a {
				return 0, 0, false
			}
			return int(binary.LittleEndian.Uint16(body[6:]) & 0x3fff), int(binary.LittleEndian.Uint16(body[8:]) & 0x3fff), true
		case "VP8L":
			// Signature 0x2f, then 14-bit width−1 and height−1.
			if len(body) < 5 || body[0] != 0x2f {
				return 0, 0, false
			}
			bits := binary.LittleEndian.Uint32(body[1:])
			return int(bits&0x3fff) + 1, int(bits>>14&0x3fff) + 1, true
		}
		p += 8 + int(min(n+n&1, uint64(len(data))))
	}
	return 0, 0, false
}
