package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"cortexcast/backend/weights"
)

// runModelsFetch is `cortexcast models fetch NAME`: the one command that
// downloads feature-model weights, and only a file whose size and SHA-256
// the registry pins.
func runModelsFetch(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "models fetch", "[flags] NAME",
		"Download the ONNX weights of feature model NAME from its public source into the weights directory\n"+
			"(default <user cache>/cortexcast/weights/NAME.onnx, where extractors look when no --weights is given),\n"+
			"checking the pinned size and SHA-256; nothing is written unless both match. Offline it fails at once and\n"+
			"says where to put a file obtained by hand. Models without a pinned public file say how to export one.\n"+
			"`models fetch --list` shows the registry.")
	dest := fs.String("dest", "", "output file (default: <weights dir>/NAME.onnx; the weights dir is $"+weights.EnvDir+" or <user cache>/cortexcast/weights)")
	url := fs.String("url", "", "download URL (default: the registry's; the pinned checksum still applies)")
	list := fs.Bool("list", false, "list the models, their sources and pins")
	var pos []string
	rest := args
	for { // flags may come before or after NAME
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos, rest = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	if *list {
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSOURCE\tSIZE\tSHA-256 / WHY NONE")
		for _, m := range weights.Registry() {
			if m.Fetchable() {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", m.Name, m.Source, m.Size, m.SHA256)
			} else {
				fmt.Fprintf(tw, "%s\t-\t-\t%s\n", m.Name, m.NoPin)
			}
		}
		tw.Flush()
		for _, m := range weights.Registry() {
			fmt.Fprintf(e.stdout, "\n%s nodes: %s\n", m.Name, m.Nodes)
		}
		return nil
	}
	if len(pos) != 1 {
		return fmt.Errorf("models fetch: want one model NAME, got %d arguments (see `cortexcast models fetch --list`)", len(pos))
	}
	m, err := weights.Lookup(pos[0])
	if err != nil {
		return err
	}
	if *dest == "" {
		if *dest, err = weights.DefaultPath(m.Name); err != nil {
			return err
		}
	}
	if *url == "" {
		*url = m.URL
	}
	if err := weights.Fetch(ctx, nil, m, *url, *dest, e.stderr); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s ready: %s\n%s\n", m.Name, *dest, m.Nodes)
	return nil
}
