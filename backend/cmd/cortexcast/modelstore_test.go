package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

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
