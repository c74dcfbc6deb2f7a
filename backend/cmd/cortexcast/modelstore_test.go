package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"cortexcast/backend/api"
	"cortexcast/backend/encoding"
	"cortexcast/backend/server"
)

// TestModelStore: the server's model store lists the store with the served model marked,
// refuses to delete the served model or an unknown one, and deletes another so that
// encoding.List no longer has it.
func TestModelStore(t *testing.T) {
	root := t.TempDir()
	for _, c := range []struct {
		subject int
		kind    string
	}{{1, encoding.KindRidge}, {1, encoding.KindBaseline}, {2, encoding.KindRidge}} {
		saveSmallModel(t, kindDir(root, c.subject, c.kind, "feat-v1"), c.subject, c.kind, nil, []float32{1, 10})
	}
	// Subject 1 is served; subject 2's model is stored but not loaded.
	served := &servedModels{models: map[int]*encoding.SubjectModel{1: {Subject: 1}}, corr: map[int][2][]float32{}}
	st := &modelStore{root: root, extractorID: "feat-v1", models: served, log: slog.New(slog.DiscardHandler)}

	list, err := st.Models()
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	for _, m := range list {
		got += fmt.Sprintf("%s/%d/%s/%s/%v/%s ", m.Name, m.Subject, m.Kind, m.Features, m.Served, m.Created.Format("2006-01-02"))
	}
	want := "subj01_baseline_feat-v1/1/baseline/feat-v1/false/2026-03-04 subj01_ridge_feat-v1/1/ridge/feat-v1/true/2026-03-04 " +
		"subj02_ridge_feat-v1/2/ridge/feat-v1/false/2026-03-04 "
	if got != want {
		t.Fatalf("models\n%s\nwant\n%s", got, want)
	}

	for _, c := range []struct {
		name string
		want error
	}{
		{"subj01_ridge_feat-v1", server.ErrInUse},
		{"subj09_ridge_feat-v1", server.ErrNotFound},
		{"../" + filepath.Base(root), server.ErrNotFound},
		{"..", server.ErrNotFound},
	} {
		if err := st.DeleteModel(c.name); !errors.Is(err, c.want) {
			t.Errorf("DeleteModel(%q) = %v, want %v", c.name, err, c.want)
		}
	}
	if err := st.DeleteModel("subj02_ridge_feat-v1"); err != nil {
		t.Fatal(err)
	}
	mfs, err := encoding.List(root)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.Name)
	}
	if fmt.Sprint(names) != "[subj01_baseline_feat-v1 subj01_ridge_feat-v1]" {
		t.Fatalf("after deleting: %v", names)
	}
	if _, err := os.Stat(filepath.Join(root, "subj02_ridge_feat-v1")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the deleted model's directory: %v", err)
	}
	// The baseline model of the served subject is not the served one: it can go.
	if err := st.DeleteModel("subj01_baseline_feat-v1"); err != nil {
		t.Fatal(err)
	}
}

// TestServedModelStore: over the real server's websocket, models lists the served model, a
// deletion of it is refused with in_use while predictions go on, and another stored model is
// deleted from the store.
func TestServedModelStore(t *testing.T) {
	f := newJobsFixture(t)
	other := kindDir(f.o.Models, 1, encoding.KindBaseline, "feat-v1")
	saveSmallModel(t, other, 1, encoding.KindBaseline, nil, []float32{1, 10})
	ws := f.dial(t)
	wsSend(t, ws, api.Message{Type: api.TypeHello, Token: "tok"})
	if w := wsNext(t, ws, api.TypeWelcome, 5*time.Second); !w.Welcome.ModelStore || !w.Welcome.Authorized {
		t.Fatalf("welcome %+v", w.Welcome)
	}
	wsSend(t, ws, api.Message{Type: api.TypeModels, ID: "l"})
	served := filepath.Base(modelDir(f.o.Models, 1, f.ext.ID()))
	got := ""
	for _, m := range wsNext(t, ws, api.TypeModels, 5*time.Second).Models {
		got += fmt.Sprintf("%s/%v ", m.Name, m.Served)
	}
	if want := filepath.Base(other) + "/false " + served + "/true "; got != want {
		t.Fatalf("models %q, want %q", got, want)
	}
	wsSend(t, ws, api.Message{Type: api.TypeDeleteModel, ID: "d1", Model: served})
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		var m api.Message
		if err := ws.ReadJSON(&m); err != nil {
			t.Fatal(err)
		}
		if m.Type == api.TypeError {
			if m.ID != "d1" || m.Code != api.CodeInUse {
				t.Fatalf("error %+v, want in_use for d1", m)
			}
			break
		}
	}
	wsSend(t, ws, api.Message{Type: api.TypePredictDataset, ID: "p", Subject: 1, Split: "test", Index: 1})
	if kind, _ := wsMaps(t, ws, "p"); kind != api.MapPredicted {
		t.Fatalf("map kind %q", kind)
	}
	wsSend(t, ws, api.Message{Type: api.TypeDeleteModel, ID: "d2", Model: filepath.Base(other)})
	if m := wsNext(t, ws, api.TypeModelDeleted, 5*time.Second); m.ID != "d2" || m.Model != filepath.Base(other) {
		t.Fatalf("model_deleted %+v", m)
	}
	mfs, err := encoding.List(f.o.Models)
	if err != nil || len(mfs) != 1 || mfs[0].Name != served {
		t.Fatalf("store after deleting: %v %v", mfs, err)
	}
}
