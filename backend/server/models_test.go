package server

import (
	"fmt"
	"image/color"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"cortexcast/backend/api"
)

// fakeStore is a ModelStore of three models; subj01_ridge_fake is served.
type fakeStore struct {
	mu      sync.Mutex
	models  []api.ModelInfo
	deleted []string
}

func newFakeStore() *fakeStore {
	at := time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC)
	return &fakeStore{models: []api.ModelInfo{
		{Name: "subj01_baseline_fake", Subject: 1, Kind: "baseline", Features: "fake", Created: at},
		{Name: "subj01_ridge_fake", Subject: 1, Kind: "ridge", Features: "fake", Created: at.Add(time.Hour), Served: true},
		{Name: "subj02_ridge_old", Subject: 2, Kind: "ridge", Features: "old", Created: at.Add(-time.Hour)},
	}}
}

func (f *fakeStore) Models() ([]api.ModelInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.models), nil
}

func (f *fakeStore) DeleteModel(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.models, func(m api.ModelInfo) bool { return m.Name == name })
	switch {
	case i < 0:
		return fmt.Errorf("model %q: %w", name, ErrNotFound)
	case f.models[i].Served:
		return fmt.Errorf("model %q: %w", name, ErrInUse)
	}
	f.models = slices.Delete(f.models, i, i+1)
	f.deleted = append(f.deleted, name)
	return nil
}

func modelNames(list []api.ModelInfo) string {
	var out []string
	for _, m := range list {
		out = append(out, fmt.Sprintf("%s/%d/%s/%s/%v", m.Name, m.Subject, m.Kind, m.Features, m.Served))
	}
	return strings.Join(out, " ")
}

func TestModelMessages(t *testing.T) {
	store := newFakeStore()
	ts, _ := newTestServerWith(t, func(c *Config) { c.Store = store; c.Token = "s3cret" })
	models := func(ws *websocket.Conn, id string) []api.ModelInfo {
		t.Helper()
		request(t, ws, api.Message{Type: api.TypeModels, ID: id})
		m, _, _ := next(t, ws, func(_ int, m api.Message, _ api.FrameHeader, _ []byte) bool {
			if m.Type == api.TypeError {
				t.Fatalf("error instead of models: %+v", m)
			}
			return m.Type == api.TypeModels
		})
		if m.ID != id {
			t.Fatalf("models answer id %q, want %q", m.ID, id)
		}
		return m.Models
	}

	// Listing needs no token.
	anon := dial(t, ts, "")
	if w := hello(t, anon, ""); !w.Welcome.ModelStore || w.Welcome.Authorized {
		t.Fatalf("welcome %+v", w.Welcome)
	}
	all := "subj01_baseline_fake/1/baseline/fake/false subj01_ridge_fake/1/ridge/fake/true subj02_ridge_old/2/ridge/old/false"
	list := models(anon, "l1")
	if got := modelNames(list); got != all {
		t.Fatalf("models %s, want %s", got, all)
	}
	if want := time.Date(2026, 3, 4, 6, 6, 0, 0, time.UTC); !list[1].Created.Equal(want) {
		t.Fatalf("created %v, want %v", list[1].Created, want)
	}

	// Deleting needs the token.
	request(t, anon, api.Message{Type: api.TypeDeleteModel, ID: "d0", Model: "subj02_ridge_old"})
	expectError(t, anon, "d0", api.CodeForbidden)
	if got := modelNames(models(anon, "l2")); got != all {
		t.Fatalf("after a forbidden delete: %s", got)
	}

	ws := dial(t, ts, "")
	if w := hello(t, ws, "s3cret"); !w.Welcome.Authorized {
		t.Fatalf("welcome with token %+v", w.Welcome)
	}
	// An unknown model: the error names it and lists the known ones.
	request(t, ws, api.Message{Type: api.TypeDeleteModel, ID: "d1", Model: "subj09_ridge_x"})
	e := expectError(t, ws, "d1", api.CodeUnknownModel)
	for _, want := range []string{`"subj09_ridge_x"`, "subj01_baseline_fake", "subj01_ridge_fake", "subj02_ridge_old"} {
		if !strings.Contains(e.Error, want) {
			t.Errorf("unknown_model error %q lacks %s", e.Error, want)
		}
	}
	// The served model stays.
	request(t, ws, api.Message{Type: api.TypeDeleteModel, ID: "d2", Model: "subj01_ridge_fake"})
	if e := expectError(t, ws, "d2", api.CodeInUse); !strings.Contains(e.Error, "subj01_ridge_fake") || !strings.Contains(e.Error, "subject 1") {
		t.Fatalf("in_use error %q", e.Error)
	}
	request(t, ws, api.Message{Type: api.TypeDeleteModel, ID: "d3"})
	expectError(t, ws, "d3", api.CodeBadMessage)

	// A deletion.
	request(t, ws, api.Message{Type: api.TypeDeleteModel, ID: "d4", Model: "subj02_ridge_old"})
	m, _, _ := next(t, ws, func(_ int, m api.Message, _ api.FrameHeader, _ []byte) bool {
		if m.Type == api.TypeError {
			t.Fatalf("error instead of model_deleted: %+v", m)
		}
		return m.Type == api.TypeModelDeleted
	})
	if m.ID != "d4" || m.Model != "subj02_ridge_old" {
		t.Fatalf("model_deleted %+v", m)
	}
	want := "subj01_baseline_fake/1/baseline/fake/false subj01_ridge_fake/1/ridge/fake/true"
	if got := modelNames(models(anon, "l3")); got != want {
		t.Fatalf("after deleting: %s, want %s", got, want)
	}
	// Deleting it again: unknown now.
	request(t, ws, api.Message{Type: api.TypeDeleteModel, ID: "d5", Model: "subj02_ridge_old"})
	expectError(t, ws, "d5", api.CodeUnknownModel)
	store.mu.Lock()
	if fmt.Sprint(store.deleted) != "[subj02_ridge_old]" {
		t.Errorf("deleted %v", store.deleted)
	}
	store.mu.Unlock()
	// Still serving predictions.
	readAfterUpload(t, ws, "after", 1, pngBytes(t, color.RGBA{9, 0, 0, 255}, 4, 4))
}

// TestModelMessagesUnavailable: without a store, models and delete_model are unavailable (and
// delete_model without the token is still forbidden first).
func TestModelMessagesUnavailable(t *testing.T) {
	ts, _ := newTestServerWith(t, func(c *Config) { c.Token = "s3cret" })
	anon := dial(t, ts, "")
	if w := hello(t, anon, ""); w.Welcome.ModelStore {
		t.Fatalf("welcome %+v", w.Welcome)
	}
	request(t, anon, api.Message{Type: api.TypeModels, ID: "l"})
	expectError(t, anon, "l", api.CodeUnavailable)
	request(t, anon, api.Message{Type: api.TypeDeleteModel, ID: "d", Model: "x"})
	expectError(t, anon, "d", api.CodeForbidden)
	ws := dial(t, ts, "")
	hello(t, ws, "s3cret")
	request(t, ws, api.Message{Type: api.TypeDeleteModel, ID: "d", Model: "x"})
	expectError(t, ws, "d", api.CodeUnavailable)
}

// TestDeleteModelDuringTraining: a deletion while a training job runs is answered with busy.
func TestDeleteModelDuringTraining(t *testing.T) {
	jobs := &fakeJobs{release: make(chan struct{})}
	store := newFakeStore()
	ts, _ := newTestServerWith(t, func(c *Config) { c.Store = store; c.Train = jobs.run; c.Token = "s3cret" })
	ws := dial(t, ts, "")
	hello(t, ws, "s3cret")
	request(t, ws, api.Message{Type: api.TypeTrainStart, ID: "j", Subjects: []int{2}})
	next(t, ws, func(_ int, m api.Message, _ api.FrameHeader, _ []byte) bool {
		return m.Type == api.TypeProgress && m.Done == 1
	})
	request(t, ws, api.Message{Type: api.TypeDeleteModel, ID: "d", Model: "subj02_ridge_old"})
	expectError(t, ws, "d", api.CodeBusy)
	close(jobs.release)
	next(t, ws, func(_ int, m api.Message, _ api.FrameHeader, _ []byte) bool { return m.Type == api.TypeTrainFinish })
	request(t, ws, api.Message{Type: api.TypeDeleteModel, ID: "d2", Model: "subj02_ridge_old"})
	next(t, ws, func(_ int, m api.Message, _ api.FrameHeader, _ []byte) bool {
		if m.Type == api.TypeError {
			t.Fatalf("error instead of model_deleted: %+v", m)
		}
		return m.Type == api.TypeModelDeleted && m.ID == "d2"
	})
}
