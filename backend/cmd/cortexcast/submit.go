package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"cortexcast/backend/algonauts"
	"cortexcast/backend/compute"
	"cortexcast/backend/encoding"
	"cortexcast/backend/simulate"
)

func runSubmit(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "submit", "[flags]  |  submit --validate PATH [--data ROOT] [--subjects 1,2]",
		"Write an Algonauts 2023 challenge submission: predict the test images of every subject with its trained\n"+
			"model and write <out>/subjNN/{lh,rh}_pred_test.npy (float32, test images × challenge vertices, rows in\n"+
			"test-image order) and <out>.zip with the subjNN/ folders at the zip's root, ready to upload. The folder is\n"+
			"written beside <out> and renamed into place only once it is complete and valid.\n\n"+
			"With --validate PATH, only check the submission directory or zip at PATH and print a report: for every\n"+
			"subject both files present, dtype <f4, 2-d, lh and rh with the same rows, no NaN or Inf, and the zip under\n"+
			"--max-mb (300 MB by default: the bound chosen for the CodaLab upload; a complete real submission is about\n"+
			"318 MB unzipped, so the limit applies to the zip). With --data also the exact shapes (the dataset's test\n"+
			"images × challenge vertices) and exactly the dataset's subjects (or --subjects). Exits non-zero on any\n"+
			"problem, naming the file and what is wrong.")
	o := trainFlags(fs)
	out := fs.String("out", "data/submission", "submission directory to write")
	zipPath := fs.String("zip", "", `zip file to write (default <out>.zip; "none" writes no zip)`)
	validate := fs.String("validate", "", "check the submission directory or .zip at this path instead of writing one")
	maxMB := fs.Float64("max-mb", float64(algonauts.MaxSubmissionBytes)/1e6, "limit on the size of the zip, in MB (10^6 bytes)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("submit: unexpected argument %q (flags go before it? see cortexcast submit -h)", fs.Arg(0))
	}
	if *maxMB <= 0 {
		return fmt.Errorf("submit: --max-mb %g must be positive", *maxMB)
	}
	maxBytes := int64(*maxMB * 1e6)
	if *validate != "" {
		dataSet := false
		fs.Visit(func(f *flag.Flag) { dataSet = dataSet || f.Name == "data" })
		data := ""
		if dataSet {
			data = o.Data
		}
		return validateSubmission(e, *validate, data, o.Subjects, maxBytes)
	}
	if *zipPath == "" {
		*zipPath = filepath.Clean(*out) + ".zip"
	}
	if *zipPath == "none" {
		*zipPath = ""
	}
	return submit(ctx, e, *o, filepath.Clean(*out), *zipPath, maxBytes)
}

// validateSubmission checks the submission at path, against the dataset at data when it is
// not empty, and prints the report.
func validateSubmission(e *env, path, data, subjects string, maxBytes int64) error {
	opts := algonauts.ValidateOptions{MaxBytes: maxBytes}
	if data != "" {
		ds, err := algonauts.Open(data)
		if err != nil {
			return err
		}
		subs, err := parseSubjects(subjects, ds.Subjects())
		if err != nil {
			return err
		}
		if opts.Expected, err = algonauts.ExpectedSubmission(ds, subs); err != nil {
			return err
		}
	}
	rep, err := algonauts.ValidateSubmission(path, opts)
	if rep != nil {
		rep.WriteTo(e.stdout)
	}
	if errors.Is(err, algonauts.ErrInvalidSubmission) {
		return fmt.Errorf("submission %s is invalid: %d problem(s), listed above", path, len(rep.AllProblems()))
	}
	return err
}

// submit predicts the test images of the selected subjects, writes the submission into out
// (replacing a previous submission there) and, when zipPath is not empty, its zip.
func submit(ctx context.Context, e *env, o trainOptions, out, zipPath string, maxBytes int64) error {
	ext, err := e.extractor(o.Extractor)
	if err != nil {
		return err
	}
	be, err := compute.Open(compute.Resolve(o.Backend), e.log)
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
	expected, err := algonauts.ExpectedSubmission(ds, subs)
	if err != nil {
		return err
	}
	if err := checkReplaceable(out); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return fmt.Errorf("submit: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-")
	if err != nil {
		return fmt.Errorf("submit: %w", err)
	}
	defer os.RemoveAll(tmp) // gone after the rename; removes the leftovers on failure
	start := time.Now()
	for _, s := range subs {
		sub, err := ds.Subject(s)
		if err != nil {
			return err
		}
		dir := modelDir(o.Models, s, ext.ID())
		m, _, err := encoding.Load(dir)
		if err != nil {
			return fmt.Errorf("subj%02d: no trained model (run cortexcast train --subjects %d first): %w", s, s, err)
		}
		x, p, err := cachedFeatures(ctx, e, ext, o.Cache, sub, "test")
		if err != nil {
			return err
		}
		sh := expected[s]
		var pred [2][]float32
		for hi, h := range algonauts.Hemis() {
			r := m.Hemis[hi]
			switch {
			case r == nil:
				return fmt.Errorf("subj%02d: the model in %s has no %s hemisphere", s, dir, h)
			case r.P != p:
				return fmt.Errorf("subj%02d %s: the model in %s takes %d features, %s gives %d", s, h, dir, r.P, ext.ID(), p)
			case r.V != sh.Cols[hi]:
				return fmt.Errorf("subj%02d %s: the model in %s predicts %d vertices but the dataset has %d challenge vertices",
					s, h, dir, r.V, sh.Cols[hi])
			}
			if pred[hi], err = predictOn(be, r, x, sh.Rows); err != nil {
				return fmt.Errorf("subj%02d %s: %w", s, h, err)
			}
		}
		if err := algonauts.WriteSubmission(tmp, s, pred[0], pred[1], sh.Rows, sh.Cols); err != nil {
			return err
		}
		e.log.Info("predicted test images", "subject", s, "images", sh.Rows, "lh_vertices", sh.Cols[0], "rh_vertices", sh.Cols[1])
	}
	rep, err := algonauts.ValidateSubmission(tmp, algonauts.ValidateOptions{Expected: expected, MaxBytes: maxBytes})
	if err != nil {
		if rep != nil {
			rep.WriteTo(e.stderr)
		}
		return fmt.Errorf("submit: the predictions written are not a valid submission: %w", err)
	}
	if err := replaceDir(tmp, out); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "submission for subject(s) %s written to %s in %s\n", joinInts(subs), out, time.Since(start).Round(100*time.Millisecond))
	if all := ds.Subjects(); len(subs) < len(all) {
		fmt.Fprintf(e.stdout, "note: the dataset has subjects %s; the challenge scores every subject\n", joinInts(all))
	}
	if m, _ := simulate.ReadMarker(o.Data); m != nil && m.Simulated {
		fmt.Fprintln(e.stdout, "note: the dataset is SIMULATED; this submission is for trying the workflow, not for the challenge")
	}
	if zipPath == "" {
		return nil
	}
	if err := algonauts.ZipSubmission(out, zipPath); err != nil {
		return err
	}
	rep, err = algonauts.ValidateSubmission(zipPath, algonauts.ValidateOptions{Expected: expected, MaxBytes: maxBytes})
	if rep != nil {
		rep.WriteTo(e.stdout)
	}
	if err != nil {
		return fmt.Errorf("submit: the zip %s was written but is not valid: %w", zipPath, err)
	}
	fmt.Fprintln(e.stdout, "upload", zipPath)
	return nil
}

var submissionEntryRE = regexp.MustCompile(`^subj[0-9]{2}$`)

// checkReplaceable refuses to replace a directory that is not a submission, so that a mistyped
// --out cannot delete anything else.
func checkReplaceable(out string) error {
	entries, err := os.ReadDir(out)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("submit: --out %s: %w", out, err)
	}
	for _, en := range entries {
		if n := en.Name(); !(en.IsDir() && submissionEntryRE.MatchString(n)) && !strings.HasPrefix(n, ".") {
			return fmt.Errorf("submit: refusing to replace %s: it holds %q, which is not part of a submission (choose another --out)", out, n)
		}
	}
	return nil
}

// replaceDir moves the complete directory tmp to out, replacing what was there.
func replaceDir(tmp, out string) error {
	old := ""
	if _, err := os.Stat(out); err == nil {
		old = fmt.Sprintf("%s.old-%d", tmp, time.Now().UnixNano())
		if err := os.Rename(out, old); err != nil {
			return fmt.Errorf("submit: moving the previous submission %s aside: %w", out, err)
		}
	}
	if err := os.Rename(tmp, out); err != nil {
		if old != "" {
			os.Rename(old, out)
		}
		return fmt.Errorf("submit: renaming %s to %s: %w", tmp, out, err)
	}
	if old != "" {
		if err := os.RemoveAll(old); err != nil {
			return fmt.Errorf("submit: removing the previous submission (moved to %s): %w", old, err)
		}
	}
	return nil
}
