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
	"time"
)

// ProtocolVersion is the version of the websocket protocol. Every control message carries it;
// the server refuses messages of another version.
const ProtocolVersion = 1

// Message types. Client → server: hello, images, predict_dataset, measured, correlation,
// roi_summary, train_start, train_cancel, models, delete_model, mesh (uploaded images travel as
// binary "image" frames). Server → client: welcome, images, vertices (binary), map (binary),
// roi_summary, progress, train_finish, models, model_deleted, mesh, error.
const (
	TypeHello          = "hello"
	TypeWelcome        = "welcome"
	TypePredict        = "predict"
	TypeVertices       = "vertices"
	TypeMap            = "map"
	TypeProgress       = "progress"
	TypeError          = "error"
	TypeImages         = "images"
	TypePredictDataset = "predict_dataset"
	TypeMeasured       = "measured"
	TypeCorrelation    = "correlation"
	TypeROISummary     = "roi_summary"
	TypeTrainStart     = "train_start"
	TypeTrainCancel    = "train_cancel"
	TypeTrainFinish    = "train_finish"
	// TypeModels asks for the stored models and answers with them.
	TypeModels = "models"
	// TypeDeleteModel deletes a stored model (needs the token); TypeModelDeleted answers it.
	TypeDeleteModel  = "delete_model"
	TypeModelDeleted = "model_deleted"
	// TypeMesh chooses the mesh resolution of a connection's maps; the server answers with the
	// vertices frames of that mesh, then a mesh message naming it.
	TypeMesh = "mesh"
)

// Map kinds carried in FrameHeader.MapKind.
const (
	MapPredicted   = "predicted"
	MapMeasured    = "measured"
	MapCorrelation = "correlation"
)

// Dataset splits.
const (
	SplitTrain = "train"
	SplitTest  = "test"
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
	// CodeForbidden answers a state-changing message on a connection whose hello carried
	// no valid token.
	CodeForbidden = "forbidden"
	// CodeRateLimited answers a request over the connection's rate limit.
	CodeRateLimited = "rate_limited"
	// CodeNotFound answers a request for a dataset image, map or job that does not exist.
	CodeNotFound = "not_found"
	// CodeUnavailable answers a request for something this server cannot provide (no
	// dataset source, no training).
	CodeUnavailable = "unavailable"
	// CodeCancelled ends a training job that was cancelled.
	CodeCancelled = "cancelled"
	// CodeUnknownModel answers a request naming a model the store does not hold; the message
	// lists the models it holds.
	CodeUnknownModel = "unknown_model"
	// CodeInUse refuses to delete a model the server is serving.
	CodeInUse = "in_use"
)

// Message is a JSON control message. Type selects which of the optional fields mean something.
type Message struct {
	Type    string `json:"type"`
	Version int    `json:"version"`
	// ID ties a reply (map, progress, error) to the request that caused it.
	ID string `json:"id,omitempty"`

	// welcome
	Welcome *Welcome `json:"welcome,omitempty"`

	// hello: the token that unlocks state-changing messages (training) for this connection.
	Token string `json:"token,omitempty"`

	// images, predict_dataset, measured, correlation: the subject.
	Subject int `json:"subject,omitempty"`
	// predict_dataset, measured: the dataset image, by split ("train", "test") and 1-based
	// index in that split (measured maps exist for training images only).
	Split string `json:"split,omitempty"`
	Index int    `json:"index,omitempty"`
	// roi_summary: the id of the request whose maps to summarise.
	Ref string `json:"ref,omitempty"`
	// train_start: the subjects to train.
	Subjects []int `json:"subjects,omitempty"`
	// delete_model, model_deleted: the model's name (as listed by models). predict_dataset,
	// correlation: the stored model to use (empty: the subject's served model).
	Model string `json:"model,omitempty"`
	// hello, mesh: the mesh resolution the viewer shows (a name from welcome's meshes; empty
	// in hello: the default, welcome's mesh).
	Mesh string `json:"mesh,omitempty"`

	// models (answer)
	Models []ModelInfo `json:"models,omitempty"`
	// images (answer)
	Images []DatasetImage `json:"images,omitempty"`
	// roi_summary (answer)
	ROIs []ROIStat `json:"rois,omitempty"`

	// progress: the stage and, for training jobs, how far it is.
	Stage string `json:"stage,omitempty"`
	Done  int    `json:"done,omitempty"`
	Total int    `json:"total,omitempty"`

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
	// Authorized says the hello carried the server's token: train_start and train_cancel
	// are allowed on this connection.
	Authorized bool `json:"authorized"`
	// DatasetImages says the server answers images, predict_dataset, measured, correlation
	// and roi_summary; Training says it runs training jobs.
	DatasetImages bool `json:"dataset_images"`
	Training      bool `json:"training"`
	// ModelStore says the server answers models and delete_model.
	ModelStore bool `json:"model_store"`
	// Meshes lists the mesh resolutions the server serves, the default (Mesh) first. A viewer
	// chooses one in hello or with a mesh message; its maps then come at that resolution.
	Meshes []MeshInfo `json:"meshes,omitempty"`
	// ModelChoice says predict_dataset, correlation and image requests may name a stored model.
	ModelChoice bool `json:"model_choice,omitempty"`
}

// MeshInfo is one mesh resolution the server serves.
type MeshInfo struct {
	Name     string `json:"name"`     // "fsaverage5", "fsaverage"
	Vertices int    `json:"vertices"` // per hemisphere; bundle vertex i is fsaverage vertex i
	URL      string `json:"url"`      // /meshes/<name>.bundle
}

// ModelInfo describes one stored model, as listed by the models message.
type ModelInfo struct {
	Name     string    `json:"name"` // the model's directory name in the store
	Subject  int       `json:"subject"`
	Kind     string    `json:"kind"`     // "ridge", "ridge-kfold", "baseline"
	Features string    `json:"features"` // the feature extractor ID it was trained on
	Created  time.Time `json:"created"`
	// Served says the server is serving this model for its subject; it cannot be deleted.
	Served bool `json:"served"`
	// MeanR is the mean over both hemispheres of the per-vertex validation r recorded when the
	// model was trained; absent when the manifest has none.
	MeanR *float64 `json:"mean_r,omitempty"`
}

// DatasetImage is one image of a subject's dataset, as listed by the images message.
type DatasetImage struct {
	Split string `json:"split"` // "train" or "test"
	Index int    `json:"index"` // 1-based position in the split
	NSDID int    `json:"nsd_id"`
	// Thumb is where a small JPEG of the image is served: /thumbs/<subject>/<split>/<index>.jpg.
	Thumb string `json:"thumb"`
}

// ROIStat summarises a map over one ROI of one hemisphere. Mean and Median are null when no
// vertex of the ROI has a finite value (JSON has no NaN).
type ROIStat struct {
	Hemi   string   `json:"hemi"`
	Class  string   `json:"class"` // "prf-visualrois", "streams"
	Label  int      `json:"label"`
	Name   string   `json:"name"`
	Mean   *float32 `json:"mean"`
	Median *float32 `json:"median"`
	N      int      `json:"n"` // vertices with a finite value
}

// FrameHeader precedes the payload of every binary frame.
type FrameHeader struct {
	Kind    string `json:"kind"` // "image", "vertices", "map"
	ID      string `json:"id,omitempty"`
	Subject int    `json:"subject,omitempty"`
	Hemi    string `json:"hemi,omitempty"`
	// MapKind says what a map holds: "predicted", "measured" or "correlation".
	MapKind string `json:"map_kind,omitempty"`
	// Model: on a map, the model that predicted it; on an image, the stored model to predict
	// with (empty: the subject's served model).
	Model string `json:"model,omitempty"`
	// Count is the number of float32 or int32 values in the payload.
	Count int `json:"count,omitempty"`
	// Mesh is the number of vertices per hemisphere of the mesh resolution that vertex indices
	// (vertices frames) and map values (map frames) refer to.
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
