package algonauts

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// mappingFixtures reads testdata/expected.json, written by
// scripts/fixtures/algonauts.py from what numpy loads back from each file.
func mappingFixtures(t testing.TB) map[string]*struct {
	Pairs     [][2]json.RawMessage `json:"pairs"`
	Identical bool                 `json:"identical"`
} {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "expected.json"))
	if err != nil {
		t.Fatalf("reading fixtures (regenerate with /usr/bin/python3 scripts/fixtures/algonauts.py): %v", err)
	}
	var doc struct {
		Files map[string]*struct {
			Pairs     [][2]json.RawMessage `json:"pairs"`
			Identical bool                 `json:"identical"`
		} `json:"files"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Files
}

func pairsToMap(t *testing.T, pairs [][2]json.RawMessage) map[int]string {
	m := map[int]string{}
	for _, p := range pairs {
		k, err := strconv.Atoi(string(p[0]))
		if err != nil {
			t.Fatal(err)
		}
		var v string
		if err := json.Unmarshal(p[1], &v); err != nil {
			t.Fatal(err)
		}
		m[k] = v
	}
	return m
}

func TestReadMappingMatchesNumpy(t *testing.T) {
	files := mappingFixtures(t)
	if len(files) < 20 {
		t.Fatalf("expected.json lists %d files", len(files))
	}
	for name, fx := range files {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", name)
			got, err := ReadMapping(path)
			if fx == nil {
				if !errors.Is(err, ErrPickle) || !strings.Contains(err.Error(), path) {
					t.Fatalf("err = %v, want ErrPickle naming %s", err, path)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := pairsToMap(t, fx.Pairs)
			if !maps.Equal(got, want) {
				t.Errorf("got %v\nnumpy %v", got, want)
			}
			if !fx.Identical {
				return
			}
			var buf bytes.Buffer
			if err := EncodeMapping(&buf, want); err != nil {
				t.Fatal(err)
			}
			file, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), file) {
				t.Errorf("EncodeMapping differs from np.save:\ngo    %q\nnumpy %q", buf.Bytes(), file)
			}
		})
	}
}

func TestReadMappingRejects(t *testing.T) {
	for file, want := range map[string]string{
		"bad_os_system.npy":   "global os.system is not allowed",
		"bad_eval.npy":        "global builtins.eval is not allowed",
		"bad_date.npy":        "global datetime.date is not allowed",
		"bad_huge_length.npy": "needs 2147483647 bytes",
		"bad_no_stop.npy":     "no STOP",
		"bad_numeric.npy":     "header says <i8",
		"bad_strkeys.npy":     "string is not an integer",
		"bad_intvalues.npy":   "value of key 1 is int, not a string",
		"bad_list.npy":        "not a dict",
		"bad_vector.npy":      "want a 0-d object array",
	} {
		_, err := ReadMapping(filepath.Join("testdata", file))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want it to contain %q", file, err, want)
		}
	}
	if _, err := ReadMapping(filepath.Join("testdata", "missing.npy")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v", err)
	}
}

func TestDefaultMappingMatchesFixtures(t *testing.T) {
	files := mappingFixtures(t)
	for _, class := range ROIClasses() {
		m, err := DefaultMapping(class)
		if err != nil {
			t.Fatal(err)
		}
		fx := files["mapping_"+class+".npy"]
		if fx == nil {
			t.Fatalf("no fixture for %s", class)
		}
		if want := pairsToMap(t, fx.Pairs); !maps.Equal(m, want) {
			t.Errorf("%s: DefaultMapping %v, fixture %v", class, m, want)
		}
	}
	if _, err := DefaultMapping("floc-cars"); err == nil {
		t.Error("unknown class accepted")
	}
}

// TestWriteMappingLoadsInNumpy has numpy itself load what Go wrote.
func TestWriteMappingLoadsInNumpy(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import numpy").Run(); err != nil {
		t.Skipf("%s with numpy is not available (%v); the byte-for-byte fixture comparison still runs", python, err)
	}
	big := map[int]string{}
	for i := range 1500 {
		big[i*7-300] = "roi-" + strconv.Itoa(i)
	}
	cases := []map[int]string{
		{},
		{0: "Unknown", 1: "V1v", 2: "V1d"},
		{-1 << 62: "min", 1<<63 - 1: "max", 300: "dup", 301: "dup", 5: "Ω 日本語 🧠"},
		big,
	}
	dir := t.TempDir()
	for i, m := range cases {
		path := filepath.Join(dir, "mapping_"+strconv.Itoa(i)+".npy")
		if err := WriteMapping(path, m); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(python, "-c", `
import json, sys
import numpy as np
d = np.load(sys.argv[1], allow_pickle=True).item()
assert type(d) is dict and all(type(k) is int and type(v) is str for k, v in d.items())
print(json.dumps([[k, v] for k, v in d.items()]))
`, path).CombinedOutput()
		if err != nil {
			t.Fatalf("numpy could not load %s: %v\n%s", path, err, out)
		}
		var pairs [][2]json.RawMessage
		if err := json.Unmarshal(out, &pairs); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		if got := pairsToMap(t, pairs); !maps.Equal(got, m) || len(pairs) != len(m) {
			t.Errorf("case %d: numpy loaded %d entries %.200v, wrote %d", i, len(pairs), got, len(m))
		}
	}
}

func TestWriteMappingRoundTrip(t *testing.T) {
	m := map[int]string{0: "Unknown", -7: "neg", 1 << 40: "big", 9: ""}
	path := filepath.Join(t.TempDir(), "m.npy")
	if err := WriteMapping(path, m); err != nil {
		t.Fatal(err)
	}
	got, err := ReadMapping(path)
	if err != nil || !maps.Equal(got, m) {
		t.Fatalf("got %v, %v", got, err)
	}
	if err := WriteMapping(path, map[int]string{1: "\xff"}); err == nil {
		t.Error("invalid UTF-8 accepted")
	}
}

func FuzzReadMapping(f *testing.F) {
	entries, err := os.ReadDir("testdata")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".npy") {
			b, err := os.ReadFile(filepath.Join("testdata", e.Name()))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMapping(b)
		if err != nil {
			return
		}
		// Whatever decodes must survive a write and read unchanged.
		var buf bytes.Buffer
		if err := EncodeMapping(&buf, m); err != nil {
			return // invalid UTF-8 in a name
		}
		back, err := DecodeMapping(buf.Bytes())
		if err != nil || !maps.Equal(back, m) {
			t.Fatalf("round trip of %v: %v %v", m, back, err)
		}
	})
}
