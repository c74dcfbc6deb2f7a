// Package api holds the wire types that the cortexcast server and the browser viewer share:
// the JSON control messages carried in websocket text frames and the header of the binary
// frames that carry bulk data (uploaded images, float32 vertex maps, vertex index lists).
//
// It imports nothing heavy so that it builds for js/wasm. docs/protocol.md describes every
// message.
package api

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// ProtocolVersion is the version of the websocket protocol. Every control message carries it;
// the server refuses messages of another version.
const ProtocolVersion = 1

// Message types. Client → server: hello, predict (the image follows as a binary frame).
// Server → client: welcome, vertices (binary), map (binary), progress, error.
const (
	TypeHello    = "hello"
	TypeWelcome  = "welcome"
	TypePredict  = "predict"
	TypeVertices = "vertices"
	TypeMap      = "map"
	TypeProgress = "progress"
	TypeError    = "error"
)

// Error codes carried in Error messages.
const (
	CodeBadMessage     = "bad_message"
	CodeBadVersion     = "bad_version"
	CodeUnknownType    = "unknown_type"
	CodeUnknownSubject = "unknown_subject"
	CodeBadImage       = "bad_image"
	CodeTooLarge       = "too_large"
	CodeInternal       = "internal"
	CodeBusy           = "busy"
)

// Message is a JSON control message. Type selects which of the optional fields mean something.
type Message struct {
	Type    string `json:"type"`
	Version int    `json:"version"`
	// ID ties a reply (map, progress, error) to the request that caused it.
	ID string `json:"id,omitempty"`

	// welcome
	Welcome *Welcome `json:"welcome,omitempty"`

	// predict: the subject to predict for; the image arrives in the next binary frame
	// whose header has the same ID.
	Subject int `json:"subject,omitempty"`

	// progress
	Stage string `json:"stage,omitempty"`

	// error
	Code  string `json:"code,omitempty"`
	Error string `json:"error,omitempty"`
}

// Welcome tells a new viewer what the server has.
type Welcome struct {
	Subjects  []int    `json:"subjects"`
	Model     string   `json:"model"`
	Features  string   `json:"features"`
	Mesh      string   `json:"mesh"`      // mesh bundle name, served at /meshes/<Mesh>.bundle
	MeshURL   string   `json:"mesh_url"`  // where to fetch it
	Simulated bool     `json:"simulated"` // the dataset is simulated: say so on screen
	Dataset   string   `json:"dataset"`
	Hemis     []string `json:"hemis"`
	MaxImage  int64    `json:"max_image_bytes"`
}

// FrameHeader precedes the payload of every binary frame.
type FrameHeader struct {
	Kind    string `json:"kind"` // "image", "vertices", "map"
	ID      string `json:"id,omitempty"`
	Subject int    `json:"subject,omitempty"`
	Hemi    string `json:"hemi,omitempty"`
	// MapKind says what a map holds: "predicted" for now.
	MapKind string `json:"map_kind,omitempty"`
	Model   string `json:"model,omitempty"`
	// Count is the number of float32 or int32 values in the payload.
	Count int `json:"count,omitempty"`
	// Mesh is the number of vertices of the mesh resolution the vertex indices refer to.
	Mesh int `json:"mesh,omitempty"`
	// Min and Max of the map, for the colorbar.
	Min float32 `json:"min,omitempty"`
	Max float32 `json:"max,omitempty"`
	// Name of an uploaded file, for messages.
	Name string `json:"name,omitempty"`
}

// MaxHeaderBytes bounds the JSON header of a binary frame.
const MaxHeaderBytes = 4096

// EncodeFrame lays out a binary frame: a 4-byte big-endian header length, the JSON header,
// then the payload.
func EncodeFrame(h FrameHeader, payload []byte) ([]byte, error) {
	hb, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("api: encode frame header: %w", err)
	}
	if len(hb) > MaxHeaderBytes {
		return nil, fmt.Errorf("api: frame header is %d bytes, limit %d", len(hb), MaxHeaderBytes)
	}
	out := make([]byte, 4+len(hb)+len(payload))
	binary.BigEndian.PutUint32(out, uint32(len(hb)))
	copy(out[4:], hb)
	copy(out[4+len(hb):], payload)
	return out, nil
}

// ErrShortFrame is returned for a binary frame too short to hold its declared header.
var ErrShortFrame = errors.New("api: binary frame shorter than its header")

// DecodeFrame splits a binary frame into its header and payload. The payload aliases b.
func DecodeFrame(b []byte) (FrameHeader, []byte, error) {
	var h FrameHeader
	if len(b) < 4 {
		return h, nil, ErrShortFrame
	}
	n := binary.BigEndian.Uint32(b)
	if n > MaxHeaderBytes {
		return h, nil, fmt.Errorf("api: frame header length %d over the limit %d", n, MaxHeaderBytes)
	}
	if uint64(len(b)-4) < uint64(n) {
		return h, nil, fmt.Errorf("%w (header %d bytes, frame %d)", ErrShortFrame, n, len(b))
	}
	if err := json.Unmarshal(b[4:4+n], &h); err != nil {
		return h, nil, fmt.Errorf("api: frame header is not valid JSON: %w", err)
	}
	return h, b[4+n:], nil
}

// DecodeMessage parses a text frame into a Message and checks its type and version.
func DecodeMessage(b []byte) (Message, error) {
	var m Message
	if err := json.Unmarshal(b, &m); err != nil {
		return m, &Error{Code: CodeBadMessage, Msg: fmt.Sprintf("message is not valid JSON: %v", err)}
	}
	if m.Type == "" {
		return m, &Error{Code: CodeBadMessage, Msg: `message has no "type" field`}
	}
	if m.Version != ProtocolVersion {
		return m, &Error{Code: CodeBadVersion, Msg: fmt.Sprintf("protocol version %d not supported; this server speaks version %d", m.Version, ProtocolVersion)}
	}
	return m, nil
}

// Error is a protocol error with a code and a message for people.
type Error struct {
	Code string
	Msg  string
}

func (e *Error) Error() string { return e.Code + ": " + e.Msg }

// Float32sToBytes encodes values little-endian.
func Float32sToBytes(v []float32) []byte {
	out := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(x))
	}
	return out
}

// BytesToFloat32s decodes little-endian float32 values.
func BytesToFloat32s(b []byte) ([]float32, error) {
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("api: float32 payload of %d bytes is not a multiple of 4", len(b))
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out, nil
}

// Int32sToBytes encodes values little-endian.
func Int32sToBytes(v []int32) []byte {
	out := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(out[4*i:], uint32(x))
	}
	return out
}

// BytesToInt32s decodes little-endian int32 values.
func BytesToInt32s(b []byte) ([]int32, error) {
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("api: int32 payload of %d bytes is not a multiple of 4", len(b))
	}
	out := make([]int32, len(b)/4)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out, nil
}
