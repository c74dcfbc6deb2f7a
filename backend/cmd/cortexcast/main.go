// Command cortexcast trains and serves image→fMRI encoding models of the human visual cortex
// and shows their predictions on a 3-D brain in the browser.
//
// Usage:
//
//	cortexcast <command> [flags]
//
// Commands: simulate, features, train, evaluate, serve, demo, version. `cortexcast <command> -h`
// explains each one.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"

	"cortexcast/backend/features"
	"cortexcast/backend/openblas"
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

// env is what every command shares: where output goes and the logger.
type env struct {
	stdout io.Writer
	stderr io.Writer
	log    *slog.Logger

	mu         sync.Mutex
	extractors map[string]features.Extractor // by name, see extractor
}

// extractor returns the feature extractor called name, built once per env: a network's model is
// loaded and probed once even when several steps of a command (demo's stale check, training,
// serving) use it.
func (e *env) extractor(name string) (features.Extractor, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.extractors[name]; ok {
		return x, nil
	}
	x, err := features.New(name)
	if err != nil {
		return nil, err
	}
	if e.extractors == nil {
		e.extractors = map[string]features.Extractor{}
	}
	e.extractors[name] = x
	return x, nil
}

func commands() []command {
	return []command{
		{"simulate", "write a simulated NSD dataset in the Algonauts 2023 layout, with its ground truth", runSimulate},
		{"features", "extract image features for every subject of a dataset (cached)", runFeatures},
		{"train", "fit a ridge encoding model per subject and hemisphere", runTrain},
		{"evaluate", "score trained models: per-vertex r, per-ROI summaries, noise ceiling on simulated data", runEvaluate},
		{"models", "list, show or delete stored models; fetch feature-network weights", runModels},
		{"submit", "write the challenge submission (test-image predictions and zip), or check one with --validate", runSubmit},
		{"serve", "serve the browser viewer and live predictions", runServe},
		{"meshes", "build the compact fsaverage mesh bundles, or fetch fsaverage5 (make meshes)", runMeshes},
		{"demo", "prepare the simulated default (simulate, features, train) if needed, then serve", runDemo},
		{"version", "print the version", runVersion},
	}
}

func main() {
	// Before anything else: OpenBLAS reads its kernel choice only at load.
	if err := openblas.TuneCoreType(); err != nil {
		fmt.Fprintln(os.Stderr, "cortexcast: warning:", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &env{stdout: os.Stdout, stderr: os.Stderr, log: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	if err := run(ctx, e, os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "cortexcast:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(e.stderr)
		if len(args) == 0 {
			return errors.New("no command given")
		}
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, e, args[1:])
		}
	}
	usage(e.stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "cortexcast predicts how the human visual cortex responds to an image and shows it on a 3-D brain.")
	fmt.Fprintln(w, "\nUsage: cortexcast <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun `cortexcast <command> -h` for the flags of a command.")
}

// newFlags makes a flag set whose -h prints the command's purpose, usage and flags.
func newFlags(e *env, name, usageLine, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: cortexcast %s %s\n\n%s\n\nFlags:\n", name, usageLine, about)
		fs.PrintDefaults()
	}
	return fs
}

// version is the module version when built from a tagged module, else the VCS revision.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return v + " " + bi.GoVersion
}

func runVersion(_ context.Context, e *env, args []string) error {
	fs := newFlags(e, "version", "", "Print the cortexcast version and the Go version it was built with.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "cortexcast", version())
	return nil
}
