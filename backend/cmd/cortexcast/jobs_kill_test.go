package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"cortexcast/backend/encoding"
)

// killHelperEnv selects the helper mode of the test binary: it names the store directory the
// helper saves into until it is killed.
const killHelperEnv = "CORTEXCAST_KILL_HELPER_STORE"

// generationModel is a model whose every weight, mean and alpha is gen, so that a loaded model
// shows whether it is whole (all values equal) and which save wrote it.
func generationModel(gen int) *encoding.SubjectModel {
	const p, v = 64, 3000
	m := &encoding.SubjectModel{Subject: 1, Features: "kill-test"}
	for hi := range m.Hemis {
		r := &encoding.Ridge{P: p, V: v, XMean: make([]float32, p), YMean: make([]float32, v), W: make([]float32, p*v), Alpha: make([]float32, v)}
		for _, s := range [][]float32{r.XMean, r.YMean, r.W, r.Alpha} {
			for i := range s {
				s[i] = float32(gen)
			}
		}
		m.Hemis[hi] = r
	}
	return m
}

// TestSaveKillHelper is the child of TestSaveSurvivesSIGKILL: it saves generation after
// generation into the store, printing each one that Save finished, until killed.
func TestSaveKillHelper(t *testing.T) {
	store := os.Getenv(killHelperEnv)
	if store == "" {
		t.Skip("helper of TestSaveSurvivesSIGKILL; runs only as its child")
	}
	start, _ := strconv.Atoi(os.Getenv(killHelperEnv + "_START"))
	dir := filepath.Join(store, "subj01_ridge_kill-test")
	for gen := start; gen < start+10000; gen++ {
		if err := encoding.Save(dir, generationModel(gen), encoding.Manifest{Kind: "ridge", Meta: map[string]string{"gen": strconv.Itoa(gen)}}); err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Println("saved", gen)
	}
}

// TestSaveSurvivesSIGKILL kills a process that is saving models with SIGKILL at random moments
// and checks after each kill that the store lists exactly one whole model, at least as new as
// the last save the child finished, and that it loads.
func TestSaveSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	store := t.TempDir()
	dir := filepath.Join(store, "subj01_ridge_kill-test")
	if err := encoding.Save(dir, generationModel(0), encoding.Manifest{Kind: "ridge"}); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	last := 0
	for iter := range 6 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSaveKillHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), killHelperEnv+"="+store, fmt.Sprintf("%s_START=%d", killHelperEnv, (iter+1)*10000))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Read what the child prints until it is killed.
		lines := make(chan int, 1000)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if g, ok := strings.CutPrefix(sc.Text(), "saved "); ok {
					n, _ := strconv.Atoi(g)
					lines <- n
				}
			}
		}()
		// Wait for the first save (so the kill lands among saves), then a random moment.
		select {
		case g, ok := <-lines:
			if !ok {
				t.Fatalf("iteration %d: the helper printed no save", iter)
			}
			last = g
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("iteration %d: the helper did not save within a minute", iter)
		}
		time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		saves := 1
		for g := range lines {
			last, saves = g, saves+1
		}

		mans, err := encoding.List(store)
		if err != nil {
			t.Fatalf("iteration %d: list: %v", iter, err)
		}
		if len(mans) != 1 || mans[0].Name != "subj01_ridge_kill-test" {
			t.Fatalf("iteration %d: the store lists %+v, want the one model", iter, mans)
		}
		m, man, err := encoding.Load(dir)
		if err != nil {
			t.Fatalf("iteration %d: load after kill: %v", iter, err)
		}
		gen := int(m.Hemis[0].W[0])
		for hi, r := range m.Hemis {
			for _, s := range [][]float32{r.XMean, r.YMean, r.W, r.Alpha} {
				for _, x := range s {
					if int(x) != gen {
						t.Fatalf("iteration %d: hemi %d mixes generations %d and %g", iter, hi, gen, x)
					}
				}
			}
		}
		if gen < last || gen > last+1 || man.Meta["gen"] != strconv.Itoa(gen) {
			t.Fatalf("iteration %d: loaded generation %d (manifest %q); the child had finished %d", iter, gen, man.Meta["gen"], last)
		}
		t.Logf("iteration %d: %d saves, killed; the store holds generation %d", iter, saves, gen)
	}
}
