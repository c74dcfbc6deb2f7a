// Command ccbench measures cortexcast against the numbers its issues set, in
// one run, and prints one line per measurement with the target beside it.
//
// Usage:
//
//	ccbench [-only npy,simulate] [-work DIR] [-strict] [section flags]
//
// Each section lives in its own file and registers itself in sections();
// -list prints them. A section that cannot measure its reference (numpy
// missing, say) says so on its line and is not a failure. With -strict the
// command exits non-zero when a measurement misses its target.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"time"

	"cortexcast/backend/openblas"
)

// section is one group of measurements.
type section struct {
	name, about string
	// setup registers the section's flags (named "<name>-…") and returns
	// the function that runs it.
	setup func(fs *flag.FlagSet) func(ctx context.Context, b *bench) error
}

// sections lists every section in the order they run.
func sections() []section {
	return []section{npySection(), simulateSection(), ridgeSection(), featuresSection(), serverSection(), nnSection(), viewerSection()}
}

// bench is what a section runs with.
type bench struct {
	out io.Writer
	// work is a directory the section may fill; it is emptied after the
	// section.
	work string
	// missed is set by a section whose measurement misses its target.
	missed bool
}

// seconds formats a duration as seconds with two decimals.
func seconds(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func main() {
	// Before anything else: OpenBLAS reads its kernel choice only at load
	// (the Python references inherit the same OPENBLAS_CORETYPE).
	if err := openblas.TuneCoreType(); err != nil {
		fmt.Fprintln(os.Stderr, "ccbench: warning:", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "ccbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ccbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	only := fs.String("only", "", "comma-separated sections to run (default: all; -list shows them)")
	list := fs.Bool("list", false, "list the sections and exit")
	work := fs.String("work", "", "directory for the files the benchmarks write (default: a new temporary directory, removed after)")
	strict := fs.Bool("strict", false, "exit non-zero when a measurement misses its target")
	all := sections()
	runs := make(map[string]func(context.Context, *bench) error, len(all))
	for _, s := range all {
		runs[s.name] = s.setup(fs)
	}
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: ccbench [flags]\n\nMeasures cortexcast against its targets, one line per measurement.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *list {
		for _, s := range all {
			fmt.Fprintf(stdout, "%-10s %s\n", s.name, s.about)
		}
		return nil
	}
	var selected []section
	if strings.TrimSpace(*only) == "" {
		selected = all
	} else {
		for _, name := range strings.Split(*only, ",") {
			name = strings.TrimSpace(name)
			i := slices.IndexFunc(all, func(s section) bool { return s.name == name })
			if i < 0 {
				names := make([]string, len(all))
				for j, s := range all {
					names[j] = s.name
				}
				return fmt.Errorf("-only: unknown section %q (have %s)", name, strings.Join(names, ", "))
			}
			selected = append(selected, all[i])
		}
	}
	root := *work
	if root == "" {
		var err error
		if root, err = os.MkdirTemp("", "ccbench-"); err != nil {
			return err
		}
		defer os.RemoveAll(root)
	}
	blasName := "pure-Go gonum BLAS (built without the openblas tag)"
	if openblas.Enabled {
		blasName = fmt.Sprintf("OpenBLAS %s kernels (%s=%q)", openblas.CoreName(), openblas.CoreTypeEnv, os.Getenv(openblas.CoreTypeEnv))
	}
	fmt.Fprintf(stdout, "ccbench: %s/%s, %d CPUs, GOMAXPROCS %d, %s, %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), blasName)
	missed := false
	for _, s := range selected {
		dir, err := os.MkdirTemp(root, s.name+"-")
		if err != nil {
			return err
		}
		b := &bench{out: stdout, work: dir}
		err = runs[s.name](ctx, b)
		os.RemoveAll(dir)
		if err != nil {
			return fmt.Errorf("section %s: %w", s.name, err)
		}
		missed = missed || b.missed
	}
	if missed && *strict {
		return errors.New("a measurement missed its target (see above)")
	}
	return nil
}
