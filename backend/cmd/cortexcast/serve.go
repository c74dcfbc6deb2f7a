package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"cortexcast/backend/algonauts"
	"cortexcast/backend/compute"
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
	addr, web, meshes, origins, token string
	ready                             func(net.Addr)
}

func serveFlags(fs *flag.FlagSet) *serveOptions {
	o := &serveOptions{}
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "address to listen on; anything but a loopback address makes the server reachable from other machines")
	fs.StringVar(&o.web, "web", "", "directory with the built page (index.html, wasm_exec.js, cortexcast.wasm); default build/web beside the binary or the working directory")
	fs.StringVar(&o.meshes, "meshes", "", "directory holding fsaverage5/ and optionally fsaverage6/, fsaverage/ (default: $"+meshes.EnvMeshes+", ../shared/data, the user cache)")
	fs.StringVar(&o.token, "token", "", "token that unlocks state-changing requests (training jobs, deleting models); default: a random one, printed at start-up")
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
	meshList, err := servedMeshes(meshDir)
	if err != nil {
		return err
	}
	ext, err := e.extractor(o.Extractor)
	if err != nil {
		return err
	}
	if x, ok := ext.(*features.ONNX); ok {
		b, _ := x.BatchSize()
		e.log.Info("feature network for uploads", "extractor", ext.ID(), "engine", x.Engine(), "batch", b)
	}
	ds, err := algonauts.Open(o.Data)
	if err != nil {
		return err
	}
	subs, err := parseSubjects(o.Subjects, ds.Subjects())
	if err != nil {
		return err
	}
	models := &servedModels{models: map[int]*encoding.SubjectModel{}, corr: map[int][2][]float32{}}
	subMap := map[int]*algonauts.Subject{}
	var subjects []server.Subject
	for _, s := range subs {
		sub, err := ds.Subject(s)
		if err != nil {
			return err
		}
		subMap[s] = sub
	}
	src := newDataSource(subMap, models)
	// Neural models run on the compute backend, opened when a viewer first picks one.
	backend := sync.OnceValues(func() (*compute.Backend, error) {
		return compute.OpenWithPlugin(compute.Resolve(o.Backend), o.PJRTPlugin, e.log)
	})
	cache := &modelCache{root: o.Models, extractorID: ext.ID(), served: models, vertices: map[int][2]int{}, keep: keptModels, backend: backend}
	for _, s := range subs {
		sub := subMap[s]
		m, corr, err := loadServed(ctx, e, o, ext, src, sub)
		if err != nil {
			return err
		}
		ss := server.Subject{ID: s}
		var counts [2]int
		for hi, hemi := range algonauts.Hemis() {
			if ss.Vertices[hi], err = sub.ChallengeVertices(hemi); err != nil {
				return err
			}
			counts[hi] = len(ss.Vertices[hi])
		}
		cache.vertices[s] = counts
		models.set(s, m, corr)
		subjects = append(subjects, ss)
	}
	if len(subjects) == 0 {
		return errors.New("no subjects to serve")
	}
	marker, _ := simulate.ReadMarker(o.Data)
	srv, err := server.New(server.Config{
		WebDir: web, Meshes: meshList,
		Subjects: subjects, PredictModel: modelPredictor(ext, cache), Train: trainJob(e, o, ext, src, models),
		Source: &modelSource{dataSource: src, models: cache, corr: func(ctx context.Context, sub *algonauts.Subject, predict hemiPredict) ([2][]float32, error) {
			return validationCorrelationOf(ctx, e, ext, o.Cache, src, sub, predict)
		}},
		Store: &modelStore{root: o.Models, extractorID: ext.ID(), models: models, log: e.log},
		Token: so.token, Model: "ridge", Features: ext.ID(),
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
		fmt.Fprintf(e.stdout, "token: %s (unlocks training jobs and model deletion over the websocket)\n", srv.Token())
		if so.ready != nil {
			so.ready(a)
		}
	})
}

// keptModels is how many stored models besides the served ones the server keeps loaded for
// viewers that pick one (a ridge model on real data is some 200 MB).
const keptModels = 2

// defaultMesh is the resolution a viewer gets unless it asks for another.
const defaultMesh = "fsaverage5"

// servedMeshes lists the fsaverage resolutions whose sources are in dir, fsaverage5 (built
// now, so that broken sources stop the server at start-up) first; the others are built on
// their first request, so that nobody waits at start-up for a full-fsaverage bundle (some
// 3 s to build and compress, 25 MB) that no viewer may ask for.
func servedMeshes(dir string) ([]server.Mesh, error) {
	bundle, err := meshes.BuildBundle(dir, defaultMesh)
	if err != nil {
		return nil, err
	}
	var enc bytes.Buffer
	if err := bundle.Encode(&enc); err != nil {
		return nil, fmt.Errorf("encode the %s bundle: %w", defaultMesh, err)
	}
	out := []server.Mesh{{Name: bundle.Name, Vertices: bundle.Hemis[0].NumVertices,
		Bundle: func() ([]byte, error) { return enc.Bytes(), nil }}}
	for _, r := range meshes.Resolutions() {
		if r.Name == defaultMesh || !meshes.HasResolution(dir, r.Name) {
			continue
		}
		out = append(out, server.Mesh{Name: r.Name, Vertices: r.Vertices, Bundle: func() ([]byte, error) {
			b, err := meshes.BuildBundle(dir, r.Name)
			if err != nil {
				return nil, err
			}
			var buf bytes.Buffer
			if err := b.Encode(&buf); err != nil {
				return nil, fmt.Errorf("encode the %s bundle: %w", r.Name, err)
			}
			return buf.Bytes(), nil
		}})
	}
	return out, nil
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
