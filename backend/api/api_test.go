package api

import (
	"encoding/json"
	"errors"

	"math"
	"reflect"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	vals := []float32{0, -1.5, 3.25, float32(math.Inf(1)), 1e-30}
	h := FrameHeader{Kind: "map", ID: "r7", Subject: 2, Hemi: "rh", MapKind: "predicted", Count: len(vals), Min: -1.5, Max: 3.25}
	b, err := EncodeFrame(h, Float32sToBytes(vals))
	if err != nil {
		t.Fatal(err)
	}
	got, payload, err := DecodeFrame(b)
	if err != nil {
		t.Fatal(err)
	}
	if got != h {
		t.Fatalf("header %+v, want %+v", got, h)
	}
	back, err := BytesToFloat32s(payload)
	if err != nil {
		t.Fatal(err)
	}
	for i := range vals {
		if math.Float32bits(back[i]) != math.Float32bits(vals[i]) {
			t.Fatalf("value %d = %v, want %v", i, back[i], vals[i])
		}
	}
	ints := []int32{0, 5, -7, 163841}
	bi, err := BytesToInt32s(Int32sToBytes(ints))
	if err != nil || len(bi) != 4 || bi[3] != 163841 || bi[2] != -7 {
		t.Fatalf("int32 round trip: %v %v", bi, err)
	}
}

func TestDecodeFrameErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short length", []byte{0, 0}},
		{"length past end", []byte{0, 0, 0, 10, '{', '}'}},
		{"huge length", []byte{0x7f, 0, 0, 0}},
		{"not json", []byte{0, 0, 0, 2, 'x', 'y'}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := DecodeFrame(tc.b); err == nil {
				t.Fatal("no error")
			}
		})
	}
	if _, err := BytesToFloat32s([]byte{1, 2, 3}); err == nil {
		t.Fatal("odd float payload accepted")
	}
}

func TestDecodeMessage(t *testing.T) {
	for _, tc := range []struct {
		in   string
		code string
	}{
		{`{"type":"hello","version":1}`, ""},
		{`{"type":"hello","version":2}`, CodeBadVersion},
		{`{"type":"hello"}`, CodeBadVersion},
		{`{"version":1}`, CodeBadMessage},
		{`{not json`, CodeBadMessage},
	} {
		m, err := DecodeMessage([]byte(tc.in))
		var pe *Error
		switch {
		case tc.code == "" && err != nil:
			t.Errorf("%s: %v", tc.in, err)
		case tc.code == "" && m.Type != "hello":
			t.Errorf("%s: type %q", tc.in, m.Type)
		case tc.code != "" && (!errors.As(err, &pe) || pe.Code != tc.code):
			t.Errorf("%s: error %v, want code %s", tc.in, err, tc.code)
		}
	}
}

func FuzzDecode(f *testing.F) {
	b, _ := EncodeFrame(FrameHeader{Kind: "image", ID: "1"}, []byte{1, 2, 3})
	f.Add(b)
	f.Add([]byte(`{"type":"predict","version":1,"id":"a","subject":1}`))
	f.Add([]byte(`{"type":"hello","version":1,"token":"abc"}`))
	f.Add([]byte(`{"type":"predict_dataset","version":1,"id":"p","subject":1,"split":"test","index":3}`))
	f.Add([]byte(`{"type":"roi_summary","version":1,"id":"r","ref":"p"}`))
	f.Add([]byte(`{"type":"train_start","version":1,"id":"j","subjects":[1,2]}`))
	f.Add([]byte(`{"type":"images","version":1,"images":[{"split":"train","index":1,"nsd_id":2,"thumb":"/t"}],"rois":[{"hemi":"lh","mean":null}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, p, err := DecodeFrame(b)
		if err == nil {
			if len(p) > len(b) {
				t.Fatal("payload longer than frame")
			}
			// A header that decoded must survive a round trip unchanged.
			if b2, err := EncodeFrame(h, p); err == nil {
				h2, _, err := DecodeFrame(b2)
				if err != nil || h2 != h {
					t.Fatalf("round trip: %+v -> %+v, %v", h, h2, err)
				}
			}
		}
		if m, err := DecodeMessage(b); err == nil {
			// A message that decoded must survive a round trip unchanged.
			b2, err := json.Marshal(m)
			if err != nil {
				t.Fatalf("re-encode %+v: %v", m, err)
			}
			m2, err := DecodeMessage(b2)
			if err != nil || !reflect.DeepEqual(normalize(m), normalize(m2)) {
				t.Fatalf("round trip: %+v -> %+v, %v", m, m2, err)
			}
		}
	})
}

// normalize makes empty and nil slices equal (omitempty drops both).
func normalize(m Message) Message {
	if len(m.Subjects) == 0 {
		m.Subjects = nil
	}
	if len(m.Images) == 0 {
		m.Images = nil
	}
	if len(m.ROIs) == 0 {
		m.ROIs = nil
	}
	return m
}
