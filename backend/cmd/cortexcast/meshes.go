package main

import (
	"context"
	"errors"
	"fmt"

	"cortexcast/meshes"
)

// runMeshes dispatches `cortexcast meshes build|fetch`.
func runMeshes(ctx context.Context, e *env, args []string) error {
	const about = "Subcommands:\n" +
		"  build   turn the fsaverage sources into one compact bundle per resolution (fsaverage5, fsaverage6, fsaverage)\n" +
		"  fetch   download nilearn's fsaverage5 files into the user cache, checking pinned SHA-256 (`make meshes`)"
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(e.stderr, "Usage: cortexcast meshes build|fetch [flags]\n\n%s\n", about)
		if len(args) == 0 {
			return errors.New("meshes: no subcommand given (build or fetch)")
		}
		return nil
	}
	switch args[0] {
	case "build":
		return runMeshesBuild(e, args[1:])
	case "fetch":
		return runMeshesFetch(ctx, e, args[1:])
	}
	return fmt.Errorf("meshes: unknown subcommand %q (build or fetch)", args[0])
}

func runMeshesBuild(e *env, args []string) error {
	fs := newFlags(e, "meshes build", "[flags]",
		"Find the fsaverage sources (nilearn GIfTI files or a FreeSurfer subjects directory, with the Algonauts ROI\n"+
			"masks and NSD label maps beside them) and write <out>/<resolution>.ccmb and .ccmb.gz for each resolution\n"+
			"present: every surface's positions and normals, triangles, the flat map, sulcal depth, curvature and ROI labels.\n"+
			"A bundle whose sources have not changed (names, sizes, modification times) is not rebuilt.")
	src := fs.String("src", "", "sources directory (default: $"+meshes.EnvMeshes+", $SUBJECTS_DIR, $FREESURFER_HOME/subjects, nilearn's data directory, ../shared/data, the user cache)")
	out := fs.String("out", "", "output directory (default: <user cache>/cortexcast/bundles)")
	force := fs.Bool("force", false, "rebuild even when the bundles are up to date")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := meshes.FindFsaverageDir(*src)
	if err != nil {
		return err
	}
	if *out == "" {
		if *out, err = meshes.BundleCacheDir(); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.stdout, "sources: %s\n", dir)
	res, err := meshes.BuildAll(dir, *out, *force)
	for _, r := range res {
		state := "built"
		if r.UpToDate {
			state = "up to date"
		}
		h := &r.Bundle.Hemis[meshes.LH]
		var classes []string
		for _, l := range h.Labels {
			classes = append(classes, l.Class)
		}
		fmt.Fprintf(e.stdout, "%-10s %s in %v: %d vertices/hemisphere, flat map %v, labels %v\n  %s (%d bytes), %s (%d bytes)\n",
			r.Name, state, r.Took.Round(1e6), h.NumVertices, h.Flat != nil, classes,
			r.Files.Raw, r.Files.RawBytes, r.Files.Gzip, r.Files.GzipBytes)
	}
	return err
}

func runMeshesFetch(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "meshes fetch", "[flags]",
		"Download nilearn's fsaverage5 GIfTI files (commit "+meshes.FetchCommit[:12]+") into <dest>/fsaverage5, checking each\n"+
			"file's pinned SHA-256. Files already there and intact are kept. Offline, it fails at once and says where to\n"+
			"put the files by hand. Nothing else in cortexcast downloads meshes.")
	dest := fs.String("dest", "", "destination (default: <user cache>/cortexcast/meshes, where the server looks last)")
	url := fs.String("url", meshes.FetchBaseURL, "base URL of the files")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dest == "" {
		d, err := meshes.MeshCacheDir()
		if err != nil {
			return err
		}
		*dest = d
	}
	if err := meshes.FetchFsaverage5(ctx, nil, *url, *dest, e.stdout); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "fsaverage5 meshes ready in %s; `cortexcast meshes build` makes the bundles\n", *dest)
	return nil
}
