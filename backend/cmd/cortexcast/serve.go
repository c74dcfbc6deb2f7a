package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"net"
	"os"
	"path/filepath"
	"strings"

	"cortexcast/backend/algonauts"
	"cortexcast/backend/encoding"
	"cortexcast/backend/features"
	"cortexcast/backend/server"
	"cortexcast/backend/simulate"
	"cortexcast/meshes"
)

func runServe(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "serve", "[flags]",
		"Serve the browser viewer and live predictions: open the printed URL, then choose, drop or paste an image;\n"+
			"the server predicts the cortical response with the trained models and colors the brain with it.\n"+
			"Listens on 127.0.0.1 only unless --addr says otherwise.")
	o := trainFlags(fs)
	so := serveFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	return serve(ctx, e, *o, *so)
}

type serveOptions struct {
	addr, web, meshes, origins string
	ready                      func(net.Addr)
}

func serveFlags(fs *flag.FlagSet) *serveOptions {
	o := &serveOptions{}
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "address to listen on; anything but a loopback address makes the server reachable from other machines")
	fs.StringVar(&o.web, "web", "", "directory with the built page (index.html, wasm_exec.js, cortexcast.wasm); default build/web beside the binary or the working directory")
	fs.StringVar(&o.meshes, "meshes", "", "directory holding fsaverage5/ (default: $"+meshes.EnvMeshes+", ../shared/data, the user cache)")
	fs.StringVar(&o.origins, "allow-origin", "", "comma-separated extra origins allowed to open the websocket, e.g. https://demo.example")
	return o
}

// findWeb returns the built page directory: the flag, else build/web under the working
// directory or next to the binary's directory.
func findWeb(flagDir string) (string, error) {
	cands := []string{flagDir}
	if flagDir == "" {
		cands = []string{filepath.Join("build", "web")}
		if exe, err := os.Executable(); err == nil {
			cands = append(cands, filepath.Join(filepath.Dir(exe), "..", "build", "web"))
		}
	}
	for _, c := range cands {
		if _, err := os.Stat(filepath.Join(c, "cortexcast.wasm")); err == nil {
			return c, nil
		}
	}
	return "", fmt.Errorf("the viewer is not built (looked for cortexcast.wasm in %s): run `make build`", strings.Join(cands, ", "))
}

func serve(ctx context.Context, e *env, o trainOptions, so serveOptions) error {
	web, err := findWeb(so.web)
	if err != nil {
		return err
	}
	meshDir, err := meshes.FindFsaverageDir(so.meshes)
	if err != nil {
		return err
	}
	bundle, err := meshes.BuildBundle(meshDir, "fsaverage5")
	if err != nil {
		return err
	}
	var enc bytes.Buffer
	if err := bundle.Encode(&enc); err != nil {
		return err
	}
	ext, err := features.New(o.Extractor)
	if err != nil {
		return err
	}
	ds, err := algonauts.Open(o.Data)
	if err != nil {
		return err
	}
	subs, err := parseSubjects(o.Subjects, ds.Subjects())
	if err != nil {
		return err
	}
	models := map[int]*encoding.SubjectModel{}
	var subjects []server.Subject
	for _, s := range subs {
		sub, err := ds.Subject(s)
		if err != nil {
			return err
		}
		dir := modelDir(o.Models, s, ext.ID())
		m, _, err := encoding.Load(dir)
		if err != nil {
			return fmt.Errorf("no trained model for subj%02d with %s features (%w): run `cortexcast train`", s, ext.ID(), err)
		}
		ss := server.Subject{ID: s}
		for hi, hemi := range algonauts.Hemis() {
			if ss.Vertices[hi], err = sub.ChallengeVertices(hemi); err != nil {
				return err
			}
			if m.Hemis[hi] == nil || m.Hemis[hi].V != len(ss.Vertices[hi]) {
				return fmt.Errorf("model %s: %s predicts %d vertices, the dataset has %d challenge vertices: retrain", dir, hemi, m.Hemis[hi].V, len(ss.Vertices[hi]))
			}
		}
		for _, r := range m.Hemis {
			r.Predict(r.XMean, 1) // warm up: the first prediction prepares the model's intercepts
		}
		models[s] = m
		subjects = append(subjects, ss)
	}
	if len(subjects) == 0 {
		return errors.New("no subjects to serve")
	}
	marker, _ := simulate.ReadMarker(o.Data)
	srv, err := server.New(server.Config{
		WebDir: web, MeshName: bundle.Name, MeshBundle: enc.Bytes(), MeshVertices: bundle.Hemis[0].NumVertices,
		Subjects: subjects, Predict: predictor(ext, models), Model: "ridge", Features: ext.ID(),
		Dataset: o.Data, Simulated: marker != nil && marker.Simulated, AllowedOrigins: splitList(so.origins), Log: e.log,
	})
	if err != nil {
		return err
	}
	if host, _, err := net.SplitHostPort(so.addr); err == nil {
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			e.log.Warn("listening beyond this machine: anyone who can reach "+so.addr+" can open the viewer and upload images", "addr", so.addr)
		}
	}
	return srv.ListenAndServe(ctx, so.addr, func(a net.Addr) {
		fmt.Fprintf(e.stdout, "cortexcast is serving the viewer at http://%s/ (Ctrl-C to stop)\n", a)
		if so.ready != nil {
			so.ready(a)
		}
	})
}

// predictor extracts the features of one image and applies the subject's model.
func predictor(ext features.Extractor, models map[int]*encoding.SubjectModel) server.Predictor {
	return func(ctx context.Context, subject int, img image.Image) ([2][]float32, error) {
		var out [2][]float32
		m, ok := models[subject]
		if !ok {
			return out, fmt.Errorf("no model for subject %d", subject)
		}
		x, err := ext.Extract(ctx, []image.Image{img})
		if err != nil {
			return out, err
		}
		for hi, r := range m.Hemis {
			out[hi] = r.Predict(x, 1)
		}
		return out, nil
	}
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
