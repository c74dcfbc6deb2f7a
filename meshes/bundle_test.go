package meshes

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math"
	"reflect"
	"strings"
	"testing"
)

// tinyBundle is a tetrahedron per hemisphere; rh has no pial surface.
func tinyBundle() *Bundle {
	lh := HemiMesh{
		NumVertices: 4,
		Inflated:    []float32{0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1},
		Pial:        []float32{0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2},
		Triangles:   []uint32{0, 1, 2, 0, 3, 1, 0, 2, 3, 1, 3, 2},
		Sulc:        []float32{-1, 0.5, 2, float32(math.NaN())},
	}
	rh := HemiMesh{
		NumVertices: 3,
		Inflated:    []float32{-1, 0, 0, -2, 1, 0, -1, 1, 1},
		Triangles:   []uint32{0, 1, 2},
		Sulc:        []float32{0, 1, -1},
	}
	return &Bundle{Name: "tiny", Hemis: [2]HemiMesh{lh, rh}}
}

func encode(t testing.TB, b *Bundle) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := b.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestBundleLayout(t *testing.T) {
	raw := encode(t, tinyBundle())
	// Hand-computed size: magic 4 + version 4 + name 4+4,
	// lh: 12 header + 12·4 infl + 12·4 pial + 12·4 tri + 4·4 sulc,
	// rh: 12 + 9·4 + 3·4 + 3·4, checksum 4.
	want := 4 + 4 + 8 + (12 + 48 + 48 + 48 + 16) + (12 + 36 + 12 + 12) + 4
	if len(raw) != want {
		t.Fatalf("encoded %d bytes, want %d", len(raw), want)
	}
	if string(raw[:4]) != "CCMB" || binary.LittleEndian.Uint32(raw[4:]) != BundleVersion {
		t.Fatalf("header % x", raw[:8])
	}
	// lh header starts after the name.
	if n, tr, fl := binary.LittleEndian.Uint32(raw[16:]), binary.LittleEndian.Uint32(raw[20:]), binary.LittleEndian.Uint32(raw[24:]); n != 4 || tr != 4 || fl != 1 {
		t.Fatalf("lh header n=%d t=%d flags=%d", n, tr, fl)
	}
	// Second inflated x of lh is 1.0.
	if v := math.Float32frombits(binary.LittleEndian.Uint32(raw[28+12:])); v != 1 {
		t.Fatalf("lh inflated[3] = %v", v)
	}
	if got, want := binary.LittleEndian.Uint32(raw[len(raw)-4:]), crc32.ChecksumIEEE(raw[:len(raw)-4]); got != want {
		t.Fatalf("checksum %#x, want %#x", got, want)
	}
}

func TestBundleRoundTrip(t *testing.T) {
	b := tinyBundle()
	got, err := DecodeBundle(bytes.NewReader(encode(t, b)))
	if err != nil {
		t.Fatal(err)
	}
	// NaN != NaN, so compare sulc bits separately.
	if !math.IsNaN(float64(got.Hemis[0].Sulc[3])) {
		t.Fatalf("NaN sulc became %v", got.Hemis[0].Sulc[3])
	}
	got.Hemis[0].Sulc[3], b.Hemis[0].Sulc[3] = 7, 7
	if !reflect.DeepEqual(got, b) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v", got, b)
	}
	if got.Hemis[1].Pial != nil {
		t.Fatal("absent pial decoded as non-nil")
	}
}

func TestDecodeBundleErrors(t *testing.T) {
	good := encode(t, tinyBundle())
	corrupt := func(f func(b []byte) []byte) []byte {
		c := append([]byte(nil), good...)
		return f(c)
	}
	// refix recomputes the checksum after an edit.
	refix := func(b []byte) []byte {
		binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.ChecksumIEEE(b[:len(b)-4]))
		return b
	}
	cases := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"empty", nil, "magic"},
		{"bad magic", corrupt(func(b []byte) []byte { b[0] = 'X'; return b }), "magic"},
		{"bad version", corrupt(func(b []byte) []byte { b[4] = 9; return b }), "format version 9"},
		{"huge name", corrupt(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[8:], 1<<30); return b }), "name length"},
		{"huge vertex count", corrupt(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[16:], 1<<30); return b }), "vertex count"},
		{"huge triangle count", corrupt(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[20:], 1<<30); return b }), "triangle count"},
		{"unknown flag", corrupt(func(b []byte) []byte { b[24] = 6; return b }), "unknown flags"},
		{"flipped bit", corrupt(func(b []byte) []byte { b[40] ^= 1; return b }), "checksum mismatch"},
		{"truncated", good[:len(good)-10], "unexpected EOF"},
		{"no checksum", good[:len(good)-4], "checksum"},
		{"index out of range", corrupt(func(b []byte) []byte {
			// first lh triangle index: after header 28 + infl 48 + pial 48
			binary.LittleEndian.PutUint32(b[28+96:], 4)
			return refix(b)
		}), "outside 4 vertices"},
		{"NaN position", corrupt(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[28:], math.Float32bits(float32(math.NaN())))
			return refix(b)
		}), "non-finite"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeBundle(bytes.NewReader(c.data))
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, c.wantErr)
			}
		})
	}
}

func TestEncodeRejectsInvalid(t *testing.T) {
	b := tinyBundle()
	b.Hemis[1].Triangles[2] = 3
	if err := b.Encode(&bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "rh") {
		t.Fatalf("error %v, want an rh triangle error", err)
	}
	b = tinyBundle()
	b.Hemis[0].Sulc = b.Hemis[0].Sulc[:3]
	if err := b.Encode(&bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "Sulc has 3") {
		t.Fatalf("error %v, want a sulc length error", err)
	}
}

func TestBuildBundleFsaverage5(t *testing.T) {
	data := sharedData(t)
	b, err := BuildBundle(data, "fsaverage5")
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range b.Hemis {
		if h.NumVertices != 10242 || len(h.Triangles) != 3*20480 || len(h.Pial) != 3*10242 || len(h.Sulc) != 10242 {
			t.Fatalf("%s: %d vertices, %d triangles, %d pial, %d sulc", HemiName(i), h.NumVertices, len(h.Triangles)/3, len(h.Pial), len(h.Sulc))
		}
	}
	// Left hemisphere inflated x is negative on average, right positive.
	var lx, rx float64
	for i := 0; i < len(b.Hemis[0].Inflated); i += 3 {
		lx += float64(b.Hemis[0].Inflated[i])
		rx += float64(b.Hemis[1].Inflated[i])
	}
	if lx >= 0 || rx <= 0 {
		t.Errorf("mean x: lh %v rh %v, want lh < 0 < rh", lx, rx)
	}
	raw := encode(t, b)
	// 2 hemis × (header + 10242·(3+3+1)·4 + 20480·3·4) + 4+4+4+len(name)+4
	want := 2*(12+10242*7*4+20480*12) + 16 + len("fsaverage5")
	if len(raw) != want {
		t.Fatalf("encoded %d bytes, want %d", len(raw), want)
	}
	got, err := DecodeBundle(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, b) {
		t.Fatal("fsaverage5 bundle round trip differs")
	}
	if _, err := BuildBundle(data, "fsaverage3"); err == nil {
		t.Fatal("BuildBundle of a missing resolution succeeded")
	}
}

func FuzzDecodeBundle(f *testing.F) {
	good := encode(f, tinyBundle())
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte("CCMB"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := DecodeBundle(bytes.NewReader(data))
		if err != nil {
			return
		}
		for i := range b.Hemis {
			if err := b.Hemis[i].Validate(); err != nil {
				t.Fatalf("decoded an invalid bundle: %v", err)
			}
		}
		// Whatever decodes must re-encode to the same bytes.
		var buf bytes.Buffer
		if err := b.Encode(&buf); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), data[:buf.Len()]) {
			t.Fatal("re-encoding differs from the input")
		}
	})
}
