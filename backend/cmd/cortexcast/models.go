package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"cortexcast/backend/compute"
	"cortexcast/backend/encoding"
	"cortexcast/backend/encoding/nn"
)

func runModels(ctx context.Context, e *env, args []string) error {
	const about = "Manage the model store: `models list` shows every stored model, `models show NAME` its manifest\n" +
		"with the histogram of chosen alphas, `models delete NAME --yes` removes it; `models fetch NAME` downloads a\n" +
		"feature network's weights (only when asked; `models fetch --list` shows the registry)."
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(e.stderr, "Usage: cortexcast models list|show|delete|fetch [flags] [NAME]\n\n%s\n", about)
		if len(args) == 0 {
			return errors.New("models: no subcommand given (list, show, delete or fetch)")
		}
		return flag.ErrHelp
	}
	sub, rest := args[0], args[1:]
	if sub == "fetch" { // feature-model weights (fetch.go)
		return runModelsFetch(ctx, e, rest)
	}
	var fs *flag.FlagSet
	switch sub {
	case "list":
		fs = newFlags(e, "models list", "[flags]", "List the models in the store: name, subject, kind, features, vertices, validation r, creation time.")
	case "show":
		fs = newFlags(e, "models show", "[flags] NAME", "Print a stored model's manifest, with the histogram of the alphas its vertices chose\n(ridge) or its loss per epoch (neural models).")
	case "delete":
		fs = newFlags(e, "models delete", "[flags] NAME", "Delete a stored model (its whole directory, and a neural model's training checkpoints); --yes is required.")
	default:
		return fmt.Errorf("models: unknown subcommand %q (want list, show or delete)", sub)
	}
	store := fs.String("models", "data/models", "model store directory")
	yes := fs.Bool("yes", false, "delete: really delete")
	// Flags may come before or after NAME.
	var pos []string
	for {
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos, rest = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	switch sub {
	case "list":
		if len(pos) > 0 {
			return fmt.Errorf("models list: unexpected argument %q", pos[0])
		}
		return listModels(e.stdout, *store)
	case "show":
		name, err := modelName(pos, sub)
		if err != nil {
			return err
		}
		return showModel(e.stdout, *store, name)
	default:
		name, err := modelName(pos, sub)
		if err != nil {
			return err
		}
		return deleteModel(e.stdout, *store, name, *yes)
	}
}

// modelName returns the one NAME argument, a plain directory name in the store.
func modelName(pos []string, sub string) (string, error) {
	if len(pos) != 1 {
		return "", fmt.Errorf("models %s: want one model NAME, got %d arguments", sub, len(pos))
	}
	name := pos[0]
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return "", fmt.Errorf("models %s: %q is not a model name (a directory name inside the store)", sub, name)
	}
	return name, nil
}

// listModels prints the store's models as a table.
func listModels(w io.Writer, store string) error {
	if st, err := os.Stat(store); err != nil {
		return fmt.Errorf("models: store %s: %w", store, err)
	} else if !st.IsDir() {
		return fmt.Errorf("models: store %s is not a directory", store)
	}
	mfs, listErr := encoding.List(store)
	if len(mfs) == 0 && listErr == nil {
		fmt.Fprintf(w, "no models in %s\n", store)
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSUBJECT\tKIND\tFEATURES\tVERTICES\tVAL R (lh/rh)\tCREATED")
	for _, mf := range mfs {
		verts := make([]string, len(mf.Hemis))
		vals := make([]string, len(mf.Hemis))
		for i, h := range mf.Hemis {
			verts[i] = fmt.Sprint(h.Vertices)
			if r, ok := mf.Metrics[h.Hemi+"_val_mean_r"]; ok {
				vals[i] = fmt.Sprintf("%.3f", r)
			} else {
				vals[i] = "-"
			}
		}
		fmt.Fprintf(tw, "%s\tsubj%02d\t%s\t%s\t%s\t%s\t%s\n", mf.Name, mf.Subject, mf.Kind, mf.Features,
			strings.Join(verts, "/"), strings.Join(vals, "/"), mf.Created.UTC().Format("2006-01-02 15:04"))
	}
	tw.Flush()
	if listErr != nil {
		return fmt.Errorf("models: some models in %s could not be read: %w", store, listErr)
	}
	return nil
}

// storedManifest reads the manifest of the model name in store.
func storedManifest(store, name string) (*encoding.Manifest, error) {
	dir := filepath.Join(store, name)
	b, err := readLimited(filepath.Join(dir, "manifest.json"), 1<<20)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("models: no model %q in %s", name, store)
	}
	if err != nil {
		return nil, fmt.Errorf("models: %w", err)
	}
	mf, err := encoding.ParseManifest(b)
	if err != nil {
		return nil, fmt.Errorf("models: %s: %w", dir, err)
	}
	mf.Name = name
	return mf, nil
}

// showModel prints a model's manifest and its alpha histogram.
func showModel(w io.Writer, store, name string) error {
	mf, err := storedManifest(store, name)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "name\t%s\n", name)
	fmt.Fprintf(tw, "store\t%s\n", store)
	fmt.Fprintf(tw, "subject\tsubj%02d\n", mf.Subject)
	fmt.Fprintf(tw, "kind\t%s\n", mf.Kind)
	fmt.Fprintf(tw, "features\t%s (%d per image)\n", mf.Features, mf.FeatureDim)
	for _, h := range mf.Hemis {
		fmt.Fprintf(tw, "%s\t%d vertices\n", h.Hemi, h.Vertices)
	}
	if len(mf.Alphas) > 0 {
		fmt.Fprintf(tw, "alphas\t%d values, %.3g … %.3g\n", len(mf.Alphas), mf.Alphas[0], mf.Alphas[len(mf.Alphas)-1])
	}
	fmt.Fprintf(tw, "created\t%s\n", mf.Created.UTC().Format(time.RFC3339))
	fmt.Fprintf(tw, "data fingerprint\t%s\n", mf.DataFingerprint)
	fmt.Fprintf(tw, "code version\t%s\n", mf.CodeVersion)
	for _, k := range slices.Sorted(maps.Keys(mf.Metrics)) {
		fmt.Fprintf(tw, "metric %s\t%.4g\n", k, mf.Metrics[k])
	}
	for _, c := range mf.Loss {
		if n := len(c.Values); n > 0 {
			best := slices.Min(c.Values)
			fmt.Fprintf(tw, "%s %s loss	%d epochs: first %.4g, last %.4g, best %.4g (epoch %d)\n", c.Hemi, c.Split, n,
				c.Values[0], c.Values[n-1], best, slices.Index(c.Values, best)+1)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(mf.Meta)) {
		if !strings.HasSuffix(k, "_alpha_counts") {
			fmt.Fprintf(tw, "%s\t%s\n", k, mf.Meta[k])
		}
	}
	tw.Flush()
	counts := map[string][]int{}
	for _, h := range mf.Hemis {
		if s, ok := mf.Meta[h.Hemi+"_alpha_counts"]; ok {
			c, err := parseCounts(s)
			if err != nil {
				return fmt.Errorf("models: %s: meta %s_alpha_counts: %w", name, h.Hemi, err)
			}
			if len(c) != len(mf.Alphas) {
				return fmt.Errorf("models: %s: meta %s_alpha_counts has %d counts for %d alphas", name, h.Hemi, len(c), len(mf.Alphas))
			}
			counts[h.Hemi] = c
		}
	}
	printAlphaHistogram(w, name, mf.Alphas, counts)
	return nil
}

// deleteModel removes a model when yes is set, else says what it would remove.
func deleteModel(w io.Writer, store, name string, yes bool) error {
	mf, err := storedManifest(store, name)
	if err != nil {
		return err
	}
	dir := filepath.Join(store, name)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("models: %w", err)
	}
	var files []string
	for _, en := range entries {
		files = append(files, en.Name())
	}
	slices.Sort(files)
	what := fmt.Sprintf("%s (subj%02d %s on %s, %d files: %s)", dir, mf.Subject, mf.Kind, mf.Features, len(files), strings.Join(files, ", "))
	if !yes {
		return fmt.Errorf("models delete: would remove %s; add --yes to delete it", what)
	}
	// A neural model's training checkpoints go with it.
	ckpt := nnCheckpoints(store, name)
	if _, err := os.Stat(ckpt); err == nil {
		what += ", and its training checkpoints " + ckpt
	}
	if err := encoding.Remove(dir); err != nil {
		return fmt.Errorf("models: %w", err)
	}
	if err := os.RemoveAll(ckpt); err != nil {
		return fmt.Errorf("models: removed %s but not its checkpoints: %w", dir, err)
	}
	fmt.Fprintf(w, "removed %s\n", what)
	return nil
}

// loadedModel is a stored model of any kind, ready to predict: a ridge per hemisphere
// (encoding.RidgeKinds) or a neural network per hemisphere (encoding.NNKinds).
type loadedModel struct {
	Manifest encoding.Manifest
	ridge    *encoding.SubjectModel
	net      *nn.SubjectModel
	be       *compute.Backend
}

// hemiPredictor predicts one hemisphere's responses: n×V values, row-major, for n×P features.
type hemiPredictor interface {
	Predict(x []float32, n int) ([]float32, error)
}

// loadModel loads the model in the store directory dir. Ridge models predict on be when it is an
// XLA backend (else with the CPU path, see predictOn); neural networks are compiled on be, which
// must not be nil for them. Close frees what the networks hold on the backend.
func loadModel(dir string, be *compute.Backend) (*loadedModel, error) {
	mf, err := encoding.ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	if encoding.IsNN(mf.Kind) {
		if be == nil {
			return nil, fmt.Errorf("%s is a neural model: it needs a compute backend", dir)
		}
		sm, err := nn.LoadSubject(dir, be)
		if err != nil {
			return nil, err
		}
		return &loadedModel{Manifest: sm.Manifest, net: sm, be: be}, nil
	}
	m, mf, err := encoding.Load(dir)
	if err != nil {
		return nil, err
	}
	return &loadedModel{Manifest: *mf, ridge: m, be: be}, nil
}

// Hemi returns the predictor of hemisphere hi (0 "lh", 1 "rh"), nil when the model has none.
func (m *loadedModel) Hemi(hi int) hemiPredictor {
	if hi < 0 || hi > 1 {
		return nil
	}
	if m.net != nil {
		if m.net.Hemis[hi] == nil {
			return nil
		}
		return m.net.Hemis[hi]
	}
	if m.ridge.Hemis[hi] == nil {
		return nil
	}
	return ridgePredictor{m.be, m.ridge.Hemis[hi]}
}

// Predict returns hemisphere hi's n×V predictions for the n×P features x.
func (m *loadedModel) Predict(hi int, x []float32, n int) ([]float32, error) {
	h := m.Hemi(hi)
	if h == nil {
		return nil, fmt.Errorf("model %s has no %s hemisphere", m.Manifest.Name, encodingHemi(hi))
	}
	if n < 0 || len(x) != n*m.Manifest.FeatureDim {
		return nil, fmt.Errorf("model %s: %d feature values for %d images of %d", m.Manifest.Name, len(x), n, m.Manifest.FeatureDim)
	}
	return h.Predict(x, n)
}

// Vertices returns the number of vertices hemisphere hi predicts, 0 when the model has none.
func (m *loadedModel) Vertices(hi int) int {
	for _, h := range m.Manifest.Hemis {
		if h.Hemi == encodingHemi(hi) {
			return h.Vertices
		}
	}
	return 0
}

// Ridge returns hemisphere hi's ridge, nil for a neural model or a missing hemisphere.
func (m *loadedModel) Ridge(hi int) *encoding.Ridge {
	if m.ridge == nil || hi < 0 || hi > 1 {
		return nil
	}
	return m.ridge.Hemis[hi]
}

// Close frees the compiled networks of a neural model.
func (m *loadedModel) Close() {
	if m.net != nil {
		m.net.Close()
	}
}

func encodingHemi(hi int) string { return [2]string{"lh", "rh"}[hi&1] }

// ridgePredictor predicts with a ridge through predictOn.
type ridgePredictor struct {
	be *compute.Backend
	r  *encoding.Ridge
}

func (p ridgePredictor) Predict(x []float32, n int) ([]float32, error) {
	return predictOn(p.be, p.r, x, n)
}
