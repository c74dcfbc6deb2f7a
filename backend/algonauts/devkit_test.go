package algonauts

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func joinedHash(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	h := sha256.Sum256([]byte(strings.Join(s, ",")))
	return hex.EncodeToString(h[:])
}

// TestDevkitSplitMatchesNumpy compares with the devkit's own code run by numpy
// (scripts/fixtures/devkit_split.py), including the full-size subject splits.
func TestDevkitSplitMatchesNumpy(t *testing.T) {
	b, err := os.ReadFile("testdata/devkit_split.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx struct {
		Cases []struct {
			N, Seed     int
			NumTrain    int `json:"num_train"`
			Train, Val  []int
			TrainSHA256 string `json:"train_sha256"`
			ValSHA256   string `json:"val_sha256"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	if len(fx.Cases) == 0 {
		t.Fatal("no cases in the fixture")
	}
	for _, c := range fx.Cases {
		train, val := DevkitSplit(c.N, uint32(c.Seed))
		if len(train) != c.NumTrain || len(train)+len(val) != c.N {
			t.Fatalf("n=%d seed=%d: %d train + %d val, want %d train", c.N, c.Seed, len(train), len(val), c.NumTrain)
		}
		if c.Train != nil && (!slices.Equal(train, c.Train) || !slices.Equal(val, c.Val)) {
			t.Fatalf("n=%d seed=%d: split differs from numpy's\ngot  %v %v\nwant %v %v", c.N, c.Seed, train, val, c.Train, c.Val)
		}
		if joinedHash(train) != c.TrainSHA256 || joinedHash(val) != c.ValSHA256 {
			t.Fatalf("n=%d seed=%d: split differs from numpy's (hash)", c.N, c.Seed)
		}
	}
}

func TestMT19937ReferenceOutput(t *testing.T) {
	// The reference implementation's first outputs for init_genrand(5489), its default seed.
	m := newMT19937(5489)
	for i, want := range []uint32{3499211612, 581869302, 3890346734, 3586334585, 545404204} {
		if got := m.next(); got != want {
			t.Fatalf("output %d = %d, want %d", i, got, want)
		}
	}
}
