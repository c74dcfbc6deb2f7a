package nn

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"cortexcast/backend/compute"
	"cortexcast/backend/encoding"
)

func openBackend(t *testing.T) *compute.Backend {
	t.Helper()
	b, err := compute.Open("go", nil)
	if err != nil {
		t.Fatalf("open backend: %v", err)
	}
	return b
}

// synthetic returns n×p features X ~ N(0,1), the noise-free responses X·W with W ~ N(0, 1/p), and
// those responses plus N(0, noise²) noise.
// W comes from seed alone and X from seed and rows, so different rows share W.
func synthetic(n, p, v int, noise float64, seed, rows uint64) (x, truth, y []float32) {
	wrng := rand.New(rand.NewPCG(seed, 7))
	w := make([]float64, p*v)
	for i := range w {
		w[i] = wrng.NormFloat64() / math.Sqrt(float64(p))
	}
	rng := rand.New(rand.NewPCG(seed, rows))
	x = make([]float32, n*p)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	truth = make([]float32, n*v)
	y = make([]float32, n*v)
	for r := 0; r < n; r++ {
		for c := 0; c < v; c++ {
			var s float64
			for k := 0; k < p; k++ {
				s += float64(x[r*p+k]) * w[k*v+c]
			}
			truth[r*v+c] = float32(s)
			y[r*v+c] = float32(s + noise*rng.NormFloat64())
		}
	}
	return x, truth, y
}

// meanR is the mean over columns of the Pearson correlation of a and b (n×v).
func meanR(a, b []float32, n, v int) float64 {
	var total float64
	for c := 0; c < v; c++ {
		var sa, sb float64
		for r := 0; r < n; r++ {
			sa += float64(a[r*v+c])
			sb += float64(b[r*v+c])
		}
		ma, mb := sa/float64(n), sb/float64(n)
		var sab, saa, sbb float64
		for r := 0; r < n; r++ {
			da, db := float64(a[r*v+c])-ma, float64(b[r*v+c])-mb
			sab += da * db
			saa += da * da
			sbb += db * db
		}
		total += sab / math.Sqrt(saa*sbb)
	}
	return total / float64(v)
}

// labels30 assigns 30 vertices to ROIs 1–3 and the rest (0), interleaved so that the ROI model's
// column permutation is exercised.
func labels30() []int32 {
	l := make([]int32, 30)
	for i := range l {
		l[i] = int32(i % 4)
	}
	return l
}

func fastConfig(kind string) Config {
	cfg := DefaultConfig()
	cfg.Kind = kind
	cfg.LR = 1e-2
	cfg.Epochs = 8
	cfg.BatchSize = 32
	cfg.StepEvery = 4
	cfg.Hidden = 16
	cfg.Blocks = 2
	cfg.Patience = 0
	cfg.ConvKernel, cfg.ConvStride, cfg.ConvChannels = 3, 1, 4
	cfg.PosDim, cfg.PosLayers = 12, 3
	return cfg
}

// smoothInCoords returns data for the pos kind: v vertices at random points of the unit cube, n×p
// features X ~ N(0,1) and responses X·W + noise where each vertex's weights are a linear function
// of its position, so one network over [features, position] can fit them.
func smoothInCoords(n, p, v int, noise float64, seed uint64) (x, y, coords []float32) {
	rng := rand.New(rand.NewPCG(seed, 21))
	coords = make([]float32, 3*v)
	for i := range coords {
		coords[i] = float32(2*rng.Float64() - 1)
	}
	a := make([]float64, p*4)
	for i := range a {
		a[i] = rng.NormFloat64() / math.Sqrt(float64(p))
	}
	x = make([]float32, n*p)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y = make([]float32, n*v)
	for r := 0; r < n; r++ {
		for c := 0; c < v; c++ {
			var s float64
			for k := 0; k < p; k++ {
				w := a[4*k] + a[4*k+1]*float64(coords[3*c]) + a[4*k+2]*float64(coords[3*c+1]) + a[4*k+3]*float64(coords[3*c+2])
				s += float64(x[r*p+k]) * w
			}
			y[r*v+c] = float32(s + noise*rng.NormFloat64())
		}
	}
	return x, y, coords
}

func TestLossDecreases(t *testing.T) {
	b := openBackend(t)
	const n, p, v = 200, 16, 30
	x, _, y := synthetic(n, p, v, 0.3, 1, 0)
	dropout := fastConfig(KindDNN)
	dropout.Dropout = 0.1
	dropout.Residual = true
	comb := dropout
	comb.Heads = HeadsROI
	conv4 := fastConfig(KindConv1D) // 16 features as 4 tokens of 4 channels
	conv4.ConvInChannels, conv4.ConvKernel, conv4.ConvLayers, conv4.ConvChannels = 4, 2, 1, 8
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"simple", fastConfig(KindSimple)},
		{"dnn", fastConfig(KindDNN)},
		{"dnn-dropout-residual", dropout},
		{"roi", fastConfig(KindROI)},
		{"conv1d", fastConfig(KindConv1D)},
		{"conv1d-channels", conv4},
		{"pos", fastConfig(KindPos)},
		{"comb", comb},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			d := Data{X: x, N: n, P: p, Y: y, V: v, ROILabels: labels30()}
			if tc.cfg.Kind == KindPos {
				d.X, d.Y, d.Coords = smoothInCoords(n, p, v, 0.3, 1)
			}
			m, err := Fit(context.Background(), b, tc.cfg, d, Options{Progress: func(epoch int, tr, va float64) {
				calls++
				if epoch != calls {
					t.Errorf("progress epoch %d at call %d", epoch, calls)
				}
			}})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if calls != tc.cfg.Epochs || len(m.TrainLoss) != tc.cfg.Epochs || len(m.ValLoss) != tc.cfg.Epochs {
				t.Fatalf("%d progress calls, %d train and %d val losses; want %d each", calls, len(m.TrainLoss), len(m.ValLoss), tc.cfg.Epochs)
			}
			first, last := m.TrainLoss[0], m.TrainLoss[len(m.TrainLoss)-1]
			if !(last < 0.7*first) {
				t.Errorf("train loss %v: last %.4g not below 0.7 × first %.4g", m.TrainLoss, last, first)
			}
			if !(m.ValLoss[len(m.ValLoss)-1] < m.ValLoss[0]) {
				t.Errorf("validation loss did not decrease: %v", m.ValLoss)
			}
			t.Logf("train %v val %v", m.TrainLoss, m.ValLoss)
		})
	}
}

// TestRecoversTruth trains on low-noise data and checks the prediction of new data against the
// noise-free truth; the ROI model's labels interleave, so its column permutation must be right.
func TestRecoversTruth(t *testing.T) {
	b := openBackend(t)
	const n, p, v = 200, 16, 30
	x, _, y := synthetic(n, p, v, 0.1, 2, 0)
	xt, truth, _ := synthetic(100, p, v, 0, 2, 1) // same W, new rows
	for _, kind := range []string{KindSimple, KindROI} {
		cfg := fastConfig(kind)
		cfg.Epochs = 15
		m, err := Train(context.Background(), b, cfg, x, n, p, y, v, labels30(), nil)
		if err != nil {
			t.Fatal(err)
		}
		pred, err := m.Predict(xt, 100)
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		if r := meanR(pred, truth, 100, v); !(r > 0.9) {
			t.Errorf("%s: mean r with the truth %.4f, want > 0.9", kind, r)
		} else {
			t.Logf("%s: mean r with the truth %.4f", kind, r)
		}
	}
}

func TestDeterministic(t *testing.T) {
	b := openBackend(t)
	const n, p, v = 100, 8, 6
	x, _, y := synthetic(n, p, v, 0.3, 3, 0)
	cfg := fastConfig(KindDNN)
	cfg.Dropout = 0.2
	cfg.Epochs = 3
	run := func() *Model {
		m, err := Train(context.Background(), b, cfg, x, n, p, y, v, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		m.Close()
		return m
	}
	a, c := run(), run()
	if !slices.Equal(a.TrainLoss, c.TrainLoss) || !slices.Equal(a.ValLoss, c.ValLoss) {
		t.Fatalf("losses differ: %v/%v vs %v/%v", a.TrainLoss, a.ValLoss, c.TrainLoss, c.ValLoss)
	}
	for i := range a.Params {
		if !slices.Equal(a.Params[i].Data, c.Params[i].Data) {
			t.Fatalf("parameter %s differs between two runs", a.Params[i].Name)
		}
	}
	cfg.Seed++
	d, err := Train(context.Background(), b, cfg, x, n, p, y, v, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	if slices.Equal(a.Params[0].Data, d.Params[0].Data) {
		t.Fatal("another seed gave the same initial layer")
	}
}

// TestEarlyStopping checks that training stops after Patience epochs without improvement and
// keeps the best epoch's weights: the kept model's validation loss, recomputed, is the minimum.
func TestEarlyStopping(t *testing.T) {
	b := openBackend(t)
	const n, p, v = 40, 16, 5
	x, _, y := synthetic(n, p, v, 2, 4, 0) // few rows, much noise: overfits quickly
	cfg := fastConfig(KindSimple)
	cfg.LR = 0.05
	cfg.Epochs = 60
	cfg.Patience = 3
	cfg.ValFraction = 0.25
	m, err := Train(context.Background(), b, cfg, x, n, p, y, v, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if len(m.ValLoss) == cfg.Epochs {
		t.Fatalf("no early stop in %d epochs: %v", cfg.Epochs, m.ValLoss)
	}
	best := slices.Index(m.ValLoss, slices.Min(m.ValLoss)) + 1
	if m.BestEpoch != best || len(m.ValLoss) != best+cfg.Patience {
		t.Fatalf("best epoch %d (want %d), stopped after %d epochs (want %d)", m.BestEpoch, best, len(m.ValLoss), best+cfg.Patience)
	}
	// Recompute the validation loss of the kept weights on the same split.
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), seedStream))
	if _, err := newModel(cfg, p, v, nil, nil, rng); err != nil {
		t.Fatal(err)
	}
	perm := rng.Perm(n)
	valIdx := perm[n-10:]
	pred, err := m.Predict(gatherRows(nil, x, p, valIdx), 10)
	if err != nil {
		t.Fatal(err)
	}
	got := meanSquared(pred, gatherRows(nil, y, v, valIdx), 0, v, v)
	if want := m.ValLoss[best-1]; math.Abs(got-want) > 1e-6*want {
		t.Fatalf("kept model's validation loss %.7g, want the best epoch's %.7g", got, want)
	}
}

// TestGradientFiniteDifferences compares the graph's gradient of the training loss with central
// differences of the loss graph, for a tiny simple model and a tiny dnn (batch norm in training mode).
func TestGradientFiniteDifferences(t *testing.T) {
	b := openBackend(t)
	const n, p, v = 6, 3, 2
	x, _, y := synthetic(n, p, v, 0.5, 5, 0)
	labels := []int32{1, 0}
	coords := []float32{0.1, -0.5, 0.3, -0.7, 0.2, 0.9}
	for _, kind := range []string{KindSimple, KindDNN, KindConv1D, "conv1d-channels", KindPos, "comb"} {
		cfg := fastConfig(kind)
		cfg.Hidden, cfg.Blocks = 4, 1
		cfg.ConvLayers, cfg.ConvKernel, cfg.ConvStride, cfg.ConvChannels = 1, 2, 1, 2
		cfg.PosDim, cfg.PosLayers = 6, 3
		if kind == "comb" {
			cfg.Kind, cfg.Heads, cfg.Residual, cfg.Hidden = KindDNN, HeadsROI, true, p // residual needs equal widths
		}
		if kind == "conv1d-channels" { // one token of 3 channels
			cfg.Kind, cfg.ConvInChannels, cfg.ConvKernel = KindConv1D, 3, 1
		}
		m, err := newModel(cfg, p, v, labels, coords, rand.New(rand.NewPCG(9, 9)))
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Attach(b); err != nil {
			t.Fatal(err)
		}
		args := func() []any {
			a := []any{tensorOf(&param{Shape: []int{n, p}, Data: x}), tensorOf(&param{Shape: []int{n, v}, Data: y})}
			for _, q := range slices.Concat(m.Params, m.Stats) {
				a = append(a, tensorOf(q))
			}
			return a
		}
		lossAt := func() float64 {
			out, err := m.exec.loss.Call(args()...)
			if err != nil {
				t.Fatal(err)
			}
			l, err := readScalar(out[0])
			if err != nil {
				t.Fatal(err)
			}
			return l
		}
		out, err := m.exec.grad.Call(args()...)
		if err != nil {
			t.Fatal(err)
		}
		var largest float64
		for i, q := range m.Params {
			g := make([]float32, len(q.Data))
			if err := readInto(g, out[1+i]); err != nil {
				t.Fatal(err)
			}
			for j := range q.Data {
				const h = 1e-3
				orig := q.Data[j]
				q.Data[j] = orig + h
				up := lossAt()
				q.Data[j] = orig - h
				down := lossAt()
				q.Data[j] = orig
				fd := (up - down) / (2 * h)
				largest = max(largest, math.Abs(fd))
				if math.Abs(fd-float64(g[j])) > 3e-4+1e-2*math.Abs(fd) {
					t.Errorf("%s: d loss / d %s[%d] = %.6g by autodiff, %.6g by central differences", kind, q.Name, j, g[j], fd)
				}
			}
		}
		m.Close()
		if largest < 0.05 {
			t.Errorf("%s: largest gradient %.3g: too flat a case to check anything", kind, largest)
		}
	}
}

func TestValidateAndShapes(t *testing.T) {
	b := openBackend(t)
	x, _, y := synthetic(10, 2, 3, 0, 6, 0)
	for _, tc := range []struct {
		name string
		edit func(*Config)
	}{
		{"kind", func(c *Config) { c.Kind = "conv" }},
		{"lr", func(c *Config) { c.LR = 0 }},
		{"dropout", func(c *Config) { c.Dropout = 1 }},
		{"val", func(c *Config) { c.ValFraction = 1 }},
		{"epochs", func(c *Config) { c.Epochs = 0 }},
		{"gamma", func(c *Config) { c.StepGamma = 0 }},
	} {
		cfg := fastConfig(KindSimple)
		tc.edit(&cfg)
		if _, err := Train(context.Background(), b, cfg, x, 10, 2, y, 3, nil, nil); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	if _, err := Train(context.Background(), b, fastConfig(KindSimple), x[:5], 10, 2, y, 3, nil, nil); err == nil {
		t.Error("short x: no error")
	}
	if _, err := Train(context.Background(), b, fastConfig(KindROI), x, 10, 2, y, 3, []int32{1}, nil); err == nil {
		t.Error("roi with 1 label for 3 vertices: no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Train(ctx, b, fastConfig(KindSimple), x, 10, 2, y, 3, nil, nil); err == nil {
		t.Error("cancelled context: no error")
	}
}

// TestAdamWSteps checks three full-batch steps of the simple model against AdamW (PyTorch's
// formulation) and the closed-form MSE gradient, in float64, including the step decay of the
// learning rate after StepEvery epochs.
func TestAdamWSteps(t *testing.T) {
	b := openBackend(t)
	const n, p, v = 8, 3, 2
	x, _, y := synthetic(n, p, v, 0.5, 7, 0)
	cfg := fastConfig(KindSimple)
	cfg.Epochs, cfg.BatchSize, cfg.ValFraction = 3, n, 0
	cfg.LR, cfg.WeightDecay, cfg.StepEvery, cfg.StepGamma = 0.05, 0.1, 2, 0.5
	m, err := Train(context.Background(), b, cfg, x, n, p, y, v, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Close()

	init, err := newModel(cfg, p, v, nil, nil, rand.New(rand.NewPCG(uint64(cfg.Seed), seedStream)))
	if err != nil {
		t.Fatal(err)
	}
	w := make([]float64, p*v)
	bias := make([]float64, v)
	for i, f := range init.Params[0].Data {
		w[i] = float64(f)
	}
	for i, f := range init.Params[1].Data {
		bias[i] = float64(f)
	}
	params := [][]float64{w, bias}
	m1 := [][]float64{make([]float64, p*v), make([]float64, v)}
	m2 := [][]float64{make([]float64, p*v), make([]float64, v)}
	var losses []float64
	for step := 1; step <= 3; step++ {
		lr := cfg.LR
		if step == 3 {
			lr *= cfg.StepGamma
		}
		gw := make([]float64, p*v)
		gb := make([]float64, v)
		var loss float64
		for r := 0; r < n; r++ {
			for c := 0; c < v; c++ {
				o := bias[c]
				for k := 0; k < p; k++ {
					o += float64(x[r*p+k]) * w[k*v+c]
				}
				res := o - float64(y[r*v+c])
				loss += res * res / (n * v)
				gb[c] += 2 * res / (n * v)
				for k := 0; k < p; k++ {
					gw[k*v+c] += 2 * res * float64(x[r*p+k]) / (n * v)
				}
			}
		}
		losses = append(losses, loss)
		for i, g := range [][]float64{gw, gb} {
			for j := range g {
				q := params[i]
				q[j] -= lr * cfg.WeightDecay * q[j]
				m1[i][j] = 0.9*m1[i][j] + 0.1*g[j]
				m2[i][j] = 0.999*m2[i][j] + 0.001*g[j]*g[j]
				mh := m1[i][j] / (1 - math.Pow(0.9, float64(step)))
				vh := m2[i][j] / (1 - math.Pow(0.999, float64(step)))
				q[j] -= lr * mh / (math.Sqrt(vh) + 1e-8)
			}
		}
	}
	for i := range losses {
		if math.Abs(losses[i]-m.TrainLoss[i]) > 1e-5*losses[i] {
			t.Errorf("step %d loss %.7g, want %.7g", i+1, m.TrainLoss[i], losses[i])
		}
	}
	for i, q := range params {
		for j, want := range q {
			if got := float64(m.Params[i].Data[j]); math.Abs(got-want) > 1e-5 {
				t.Errorf("%s[%d] = %.7g after 3 steps, want %.7g", m.Params[i].Name, j, got, want)
			}
		}
	}
}

// TestResume interrupts a checkpointed run after two epochs and resumes it: the result must be the
// model of an uninterrupted run, bit for bit.
func TestResume(t *testing.T) {
	b := openBackend(t)
	const n, p, v = 60, 8, 6
	x, _, y := synthetic(n, p, v, 0.3, 8, 0)
	cfg := fastConfig(KindDNN)
	cfg.Dropout = 0.2
	cfg.Epochs = 5
	cfg.Patience = 0
	whole, err := Train(context.Background(), b, cfg, x, n, p, y, v, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	whole.Close()

	dir := t.TempDir() + "/ckpt"
	ctx, cancel := context.WithCancel(context.Background())
	_, err = TrainCheckpointed(ctx, b, cfg, x, n, p, y, v, nil, func(epoch int, _, _ float64) {
		if epoch == 2 {
			cancel()
		}
	}, dir)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: error %v, want context.Canceled", err)
	}
	var epochs []int
	resumed, err := TrainCheckpointed(context.Background(), b, cfg, x, n, p, y, v, nil, func(epoch int, _, _ float64) {
		epochs = append(epochs, epoch)
	}, dir)
	if err != nil {
		t.Fatal(err)
	}
	resumed.Close()
	if !slices.Equal(epochs, []int{3, 4, 5}) {
		t.Errorf("resumed run ran epochs %v, want [3 4 5]", epochs)
	}
	if !slices.Equal(whole.TrainLoss, resumed.TrainLoss) || !slices.Equal(whole.ValLoss, resumed.ValLoss) {
		t.Errorf("losses: uninterrupted %v/%v, resumed %v/%v", whole.TrainLoss, whole.ValLoss, resumed.TrainLoss, resumed.ValLoss)
	}
	for i := range whole.Params {
		if !slices.Equal(whole.Params[i].Data, resumed.Params[i].Data) {
			t.Fatalf("parameter %s differs after resuming", whole.Params[i].Name)
		}
	}
	for i := range whole.Stats {
		if !slices.Equal(whole.Stats[i].Data, resumed.Stats[i].Data) {
			t.Fatalf("statistic %s differs after resuming", whole.Stats[i].Name)
		}
	}
	other := cfg
	other.LR *= 2
	if _, err := TrainCheckpointed(context.Background(), b, other, x, n, p, y, v, nil, nil, dir); err == nil ||
		!strings.Contains(err.Error(), "another run") {
		t.Errorf("checkpoint of another config: error %v, want one naming another run", err)
	}
}

// TestPositionalEncoding checks the encoding of three points against the formula written out.
func TestPositionalEncoding(t *testing.T) {
	// Bounding box x ∈ [0, 4], y ∈ [-1, 1], z ∈ [2, 2]: centre (2, 0, 2), longest half extent 2.
	coords := []float32{0, -1, 2, 4, 1, 2, 3, 0, 2}
	const dim, maxFreq = 12, 8 // two frequencies per coordinate: 1 and 8
	got := positionalEncoding(coords, dim, maxFreq)
	norm := [][3]float64{{-1, -0.5, 0}, {1, 0.5, 0}, {0.5, 0, 0}}
	for i, c := range norm {
		var want []float64
		for _, x := range c {
			for _, f := range []float64{1, 8} {
				want = append(want, math.Sin(math.Pi*f*x), math.Cos(math.Pi*f*x))
			}
		}
		for j, w := range want {
			if g := float64(got[i*dim+j]); math.Abs(g-w) > 1e-6 {
				t.Errorf("point %d value %d: %.7f, want %.7f", i, j, g, w)
			}
		}
	}
}

// TestPresets checks that every preset is valid, that the store knows its kind and that the
// thesis defaults are what they say.
func TestPresets(t *testing.T) {
	for name, cfg := range Presets() {
		if err := cfg.Validate(); err != nil {
			t.Errorf("preset %s: %v", name, err)
		}
		if !slices.Contains(encoding.NNKinds(), encoding.NNKindPrefix+name) {
			t.Errorf("preset %s: the store has no kind %q", name, encoding.NNKindPrefix+name)
		}
		if cfg.LR != 1e-4 || cfg.WeightDecay != 1e-2 || cfg.StepGamma != 0.75 || cfg.StepEvery != 10 || cfg.Epochs != 30 || cfg.ValFraction != 0.1 {
			t.Errorf("preset %s: training settings %+v are not the thesis defaults", name, cfg)
		}
	}
	if p := Presets()["pos"]; p.PosDim != 48 || p.PosFreq != 32 || p.PosLayers != 6 {
		t.Errorf("pos preset %+v: want dim 48, ×32, 6 layers", p)
	}
}

// TestSaveLoad saves trained dnn and roi models and checks that the loaded ones predict the same
// values and keep their loss history.
func TestSaveLoad(t *testing.T) {
	b := openBackend(t)
	const n, p, v = 60, 8, 30
	x, _, y := synthetic(n, p, v, 0.3, 9, 0)
	_, _, coords := smoothInCoords(1, 1, v, 0, 3)
	for _, kind := range []string{KindDNN, KindROI, KindConv1D, KindPos, "comb"} {
		cfg := fastConfig(kind)
		cfg.Epochs = 2
		if kind == "comb" {
			cfg.Kind, cfg.Heads, cfg.Dropout = KindDNN, HeadsROI, 0.1
		}
		m, err := Fit(context.Background(), b, cfg, Data{X: x, N: n, P: p, Y: y, V: v, ROILabels: labels30(), Coords: coords}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		want, err := m.Predict(x, n)
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir() + "/model"
		if err := m.Save(dir); err != nil {
			t.Fatal(err)
		}
		if err := m.Save(dir); err != nil { // overwriting an existing model
			t.Fatal(err)
		}
		l, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Predict(x, n); err == nil {
			t.Errorf("%s: Predict before Attach: no error", kind)
		}
		if err := l.Attach(b); err != nil {
			t.Fatal(err)
		}
		got, err := l.Predict(x, n)
		l.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: loaded model predicts differently", kind)
		}
		// Three rows (padded to four inside) predict what they predict among all n.
		if err := l.Attach(b); err != nil {
			t.Fatal(err)
		}
		three, err := l.Predict(x[:3*p], 3)
		l.Close()
		if err != nil {
			t.Fatal(err)
		}
		for i, g := range three {
			if math.Abs(float64(g-want[i])) > 1e-5*(1+math.Abs(float64(want[i]))) {
				t.Fatalf("%s: value %d of 3 rows %v, among %d rows %v", kind, i, g, n, want[i])
			}
		}
		if l.Config != cfg || !slices.Equal(l.TrainLoss, m.TrainLoss) || !slices.Equal(l.ValLoss, m.ValLoss) || l.BestEpoch != m.BestEpoch {
			t.Errorf("%s: loaded config/history %+v %v %v %d, saved %+v %v %v %d", kind,
				l.Config, l.TrainLoss, l.ValLoss, l.BestEpoch, cfg, m.TrainLoss, m.ValLoss, m.BestEpoch)
		}
	}
	if _, err := Load(t.TempDir()); err == nil {
		t.Error("Load of an empty directory: no error")
	}
}

// TestROINoiseCeiling trains the ROI model on noisy data and compares its held-out correlation with
// the measured responses to the noise ceiling, the correlation of the noise-free truth with them.
func TestROINoiseCeiling(t *testing.T) {
	b := openBackend(t)
	const n, p, v, nt = 300, 16, 30, 200
	x, _, y := synthetic(n, p, v, 0.5, 10, 0)
	xt, truth, yt := synthetic(nt, p, v, 0.5, 10, 1)
	cfg := fastConfig(KindROI)
	cfg.Epochs = 20
	m, err := Train(context.Background(), b, cfg, x, n, p, y, v, labels30(), nil)
	if err != nil {
		t.Fatal(err)
	}
	pred, err := m.Predict(xt, nt)
	m.Close()
	if err != nil {
		t.Fatal(err)
	}
	r, ceiling := meanR(pred, yt, nt, v), meanR(truth, yt, nt, v)
	t.Logf("roi: held-out r %.4f, noise ceiling %.4f (%.1f%%)", r, ceiling, 100*r/ceiling)
	if !(r >= 0.95*ceiling) {
		t.Errorf("roi: held-out r %.4f below 95%% of the noise ceiling %.4f", r, ceiling)
	}
}

// BenchmarkEpochROI times one epoch of the ROI model (batch 64) on 1,000 × 512 features → 2,000
// vertices in 5 ROIs, on the default Go backend. (With one product per head, this deadlocked on
// 2 cores: every worker waiting in the backend's workerspool.Saturate.)
func BenchmarkEpochROI(b *testing.B) {
	be, err := compute.Open("go", nil)
	if err != nil {
		b.Fatal(err)
	}
	const n, p, v = 1000, 512, 2000
	x, _, y := synthetic(n, p, v, 0.5, 11, 0)
	labels := make([]int32, v)
	for i := range labels {
		labels[i] = int32(i % 5)
	}
	cfg := DefaultConfig()
	cfg.Kind, cfg.Epochs, cfg.ValFraction = KindROI, 1, 0.1
	for b.Loop() {
		m, err := Train(context.Background(), be, cfg, x, n, p, y, v, labels, nil)
		if err != nil {
			b.Fatal(err)
		}
		m.Close()
	}
}

// FuzzLoad feeds arbitrary nn.json files (beside the arrays of a real small model) to Load, which
// must fail cleanly or load a model whose arrays match their shapes.
func FuzzLoad(f *testing.F) {
	b, err := compute.Open("go", nil)
	if err != nil {
		f.Fatal(err)
	}
	x, _, y := synthetic(20, 3, 30, 0.3, 12, 0)
	base := f.TempDir() + "/model"
	_, _, coords := smoothInCoords(1, 1, 30, 0, 3)
	for _, kind := range Kinds() {
		cfg := fastConfig(kind)
		cfg.Epochs, cfg.Hidden, cfg.Blocks, cfg.ConvKernel = 1, 4, 1, 2
		m, err := Fit(context.Background(), b, cfg, Data{X: x, N: 20, P: 3, Y: y, V: 30, ROILabels: labels30(), Coords: coords}, Options{})
		if err != nil {
			f.Fatal(err)
		}
		m.Close()
		if err := m.Save(base + kind); err != nil {
			f.Fatal(err)
		}
		body, err := os.ReadFile(base + kind + "/nn.json")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(kind, body)
	}
	f.Add(KindSimple, []byte(`{"format":"cortexcast-nn-1","config":{"kind":"dnn","hidden":1000000000,"blocks":1000000000,"lr":1,"epochs":1,"batch_size":1},"p":1000000000,"v":1000000000}`))
	f.Fuzz(func(t *testing.T, kind string, body []byte) {
		if !slices.Contains(Kinds(), kind) {
			return
		}
		dir := t.TempDir()
		src := base + kind
		entries, err := os.ReadDir(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			data, err := os.ReadFile(filepath.Join(src, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, e.Name()), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "nn.json"), body, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := Load(dir)
		if err != nil {
			return
		}
		for _, q := range slices.Concat(m.Params, m.Stats) {
			size := 1
			for _, d := range q.Shape {
				size *= d
			}
			if len(q.Data) != size {
				t.Fatalf("%s: %d values for shape %v", q.Name, len(q.Data), q.Shape)
			}
		}
	})
}

// TestFitJoint trains a dnn across two subjects with different vertices that share one
// underlying trunk: the loss decreases, the models share the trunk exactly (and only the trunk),
// and they predict each subject's held-out data.
func TestFitJoint(t *testing.T) {
	b := openBackend(t)
	const n, p = 200, 16
	x1, _, y1 := synthetic(n, p, 30, 0.3, 13, 0)
	x2, _, y2 := synthetic(n, p, 20, 0.3, 14, 0)
	cfg := fastConfig(KindDNN)
	cfg.Joint = true
	if _, err := Fit(context.Background(), b, cfg, Data{X: x1, N: n, P: p, Y: y1, V: 30}, Options{}); err == nil {
		t.Error("Fit accepted a joint configuration")
	}
	calls := 0
	ms, err := FitJoint(context.Background(), b, cfg, []Data{{X: x1, N: n, P: p, Y: y1, V: 30}, {X: x2, N: n, P: p, Y: y2, V: 20}},
		Options{Progress: func(int, float64, float64) { calls++ }})
	if err != nil {
		t.Fatal(err)
	}
	defer ms[0].Close()
	defer ms[1].Close()
	a, c := ms[0], ms[1]
	if calls != cfg.Epochs || len(a.TrainLoss) != cfg.Epochs || !slices.Equal(a.ValLoss, c.ValLoss) {
		t.Fatalf("%d progress calls, losses %v / %v", calls, a.ValLoss, c.ValLoss)
	}
	if first, last := a.TrainLoss[0], a.TrainLoss[len(a.TrainLoss)-1]; !(last < 0.7*first) || !(a.ValLoss[len(a.ValLoss)-1] < a.ValLoss[0]) {
		t.Errorf("joint losses did not decrease: train %v val %v", a.TrainLoss, a.ValLoss)
	}
	for i := 0; i < a.headStart; i++ {
		if !slices.Equal(a.Params[i].Data, c.Params[i].Data) {
			t.Errorf("trunk array %s differs between the subjects", a.Params[i].Name)
		}
	}
	for i := range a.Stats {
		if !slices.Equal(a.Stats[i].Data, c.Stats[i].Data) {
			t.Errorf("trunk statistic %s differs between the subjects", a.Stats[i].Name)
		}
	}
	if a.Params[a.headStart].Shape[1] != 30 || c.Params[c.headStart].Shape[1] != 20 {
		t.Errorf("heads of shapes %v and %v, want 30 and 20 outputs", a.Params[a.headStart].Shape, c.Params[c.headStart].Shape)
	}
	for s, d := range []struct {
		m    *Model
		v    int
		seed uint64
	}{{a, 30, 13}, {c, 20, 14}} {
		xt, truth, _ := synthetic(100, p, d.v, 0, d.seed, 1)
		pred, err := d.m.Predict(xt, 100)
		if err != nil {
			t.Fatal(err)
		}
		if r := meanR(pred, truth, 100, d.v); !(r > 0.5) {
			t.Errorf("subject %d: held-out r with the truth %.3f, want > 0.5", s, r)
		} else {
			t.Logf("subject %d: held-out r with the truth %.3f", s, r)
		}
	}
}

// TestSaveSubject stores a two-hemisphere model in the model store and loads it back: the store
// lists it with its kind and loss curves, the loaded networks predict as the saved ones, and a
// manifest that disagrees with the networks is refused.
func TestSaveSubject(t *testing.T) {
	b := openBackend(t)
	const n, p = 60, 8
	x, _, y := synthetic(n, p, 30, 0.3, 15, 0)
	var hemis [2]*Model
	for h := range hemis {
		m, err := Train(context.Background(), b, fastConfig(KindROI), x, n, p, y, 30, labels30(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		hemis[h] = m
	}
	store := t.TempDir()
	dir := filepath.Join(store, "subj01_nn-roi_f")
	if err := SaveSubject(dir, encoding.Manifest{Subject: 1, Features: "f", Kind: "nn-roi"}, hemis); err != nil {
		t.Fatal(err)
	}
	mfs, err := encoding.List(store)
	if err != nil || len(mfs) != 1 {
		t.Fatalf("store lists %d models, err %v", len(mfs), err)
	}
	mf := mfs[0]
	if mf.Kind != "nn-roi" || mf.FeatureDim != p || len(mf.Hemis) != 2 || len(mf.Loss) != 4 ||
		!slices.Equal(mf.Loss[3].Values, hemis[1].ValLoss) || mf.Loss[3].Hemi != "rh" || mf.Loss[3].Split != "val" {
		t.Fatalf("manifest %+v", mf)
	}
	if _, _, err := encoding.Load(dir); err == nil || !strings.Contains(err.Error(), "neural") {
		t.Errorf("encoding.Load of a neural model: err %v", err)
	}
	sm, err := LoadSubject(dir, b)
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Close()
	for h := range hemis {
		want, err := hemis[h].Predict(x, n)
		if err != nil {
			t.Fatal(err)
		}
		got, err := sm.Predict(h, x, n)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("hemisphere %d: the loaded model predicts differently", h)
		}
	}
	// A manifest that says 31 vertices for networks of 30.
	body, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(body), `"vertices": 30`, `"vertices": 31`, 1)
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSubject(dir, b); err == nil || !strings.Contains(err.Error(), "31") {
		t.Errorf("inconsistent manifest: err %v", err)
	}
	if err := SaveSubject(filepath.Join(store, "x"), encoding.Manifest{Subject: 1, Kind: "ridge"}, hemis); err == nil {
		t.Error("SaveSubject with a ridge kind: no error")
	}
}

// TestFitJointPos trains the pos network jointly on two subjects with their own vertices: the
// whole network is shared, so the two models end with the same arrays.
func TestFitJointPos(t *testing.T) {
	b := openBackend(t)
	const n, p = 120, 8
	x1, y1, c1 := smoothInCoords(n, p, 30, 0.3, 1)
	x2, y2, c2 := smoothInCoords(n, p, 20, 0.3, 1) // the same weights' function, other vertices
	cfg := fastConfig(KindPos)
	cfg.Joint = true
	ms, err := FitJoint(context.Background(), b, cfg, []Data{{X: x1, N: n, P: p, Y: y1, V: 30, Coords: c1}, {X: x2, N: n, P: p, Y: y2, V: 20, Coords: c2}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ms[0].Close()
	defer ms[1].Close()
	for i := range ms[0].Params {
		if !slices.Equal(ms[0].Params[i].Data, ms[1].Params[i].Data) {
			t.Errorf("array %s differs between the subjects", ms[0].Params[i].Name)
		}
	}
	if l := ms[0].TrainLoss; !(l[len(l)-1] < 0.8*l[0]) {
		t.Errorf("joint pos train loss %v did not decrease", l)
	}
	pred, err := ms[1].Predict(x2[:3*p], 3)
	if err != nil || len(pred) != 3*20 {
		t.Fatalf("predict: %d values, %v", len(pred), err)
	}
}

// TestConv1DForward checks the conv1d network's prediction against the convolutions written out
// as loops: 8 features read as 4 tokens × 2 channels, two layers (kernel 2, stride 1, 3
// channels), LeakyReLU, flattened, a linear head.
func TestConv1DForward(t *testing.T) {
	b := openBackend(t)
	const p, v, n = 8, 2, 3
	cfg := fastConfig(KindConv1D)
	cfg.ConvInChannels, cfg.ConvLayers, cfg.ConvKernel, cfg.ConvStride, cfg.ConvChannels = 2, 2, 2, 1, 3
	m, err := newModel(cfg, p, v, nil, nil, rand.New(rand.NewPCG(4, 4)))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Attach(b); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	x, _, _ := synthetic(n, p, 1, 0, 16, 0)
	got, err := m.Predict(x, n)
	if err != nil {
		t.Fatal(err)
	}
	leakyF := func(z float64) float64 { return max(z, 0.01*z) }
	for r := 0; r < n; r++ {
		tokens, ch := 4, 2
		h := make([]float64, p)
		for i := range h {
			h[i] = float64(x[r*p+i]) // token t, channel c at t*ch + c
		}
		for l := 0; l < 2; l++ {
			w, bias := m.Params[2*l].Data, m.Params[2*l+1].Data
			out := tokens - 1
			next := make([]float64, out*3)
			for tk := 0; tk < out; tk++ {
				for co := 0; co < 3; co++ {
					z := float64(bias[co])
					for j := 0; j < 2; j++ {
						for ci := 0; ci < ch; ci++ {
							z += h[(tk+j)*ch+ci] * float64(w[(j*ch+ci)*3+co])
						}
					}
					next[tk*3+co] = leakyF(z)
				}
			}
			h, tokens, ch = next, out, 3
		}
		wo, bo := m.Params[4].Data, m.Params[5].Data
		for c := 0; c < v; c++ {
			want := float64(bo[c])
			for k, f := range h {
				want += f * float64(wo[k*v+c])
			}
			if g := float64(got[r*v+c]); math.Abs(g-want) > 1e-5*(1+math.Abs(want)) {
				t.Errorf("row %d vertex %d: %.7g, the loops give %.7g", r, c, g, want)
			}
		}
	}
}

// TestPosForward checks the pos network's prediction for every (image, vertex) pair against the
// MLP on the concatenation [features, positional encoding] written out as loops.
func TestPosForward(t *testing.T) {
	b := openBackend(t)
	const p, v, n, hid = 3, 4, 2, 5
	cfg := fastConfig(KindPos)
	cfg.Hidden, cfg.PosDim, cfg.PosLayers = hid, 6, 3
	_, _, coords := smoothInCoords(1, 1, v, 0, 5)
	m, err := newModel(cfg, p, v, nil, coords, rand.New(rand.NewPCG(6, 6)))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Attach(b); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	x, _, _ := synthetic(n, p, 1, 0, 17, 0)
	got, err := m.Predict(x, n)
	if err != nil {
		t.Fatal(err)
	}
	enc := positionalEncoding(coords, 6, cfg.PosFreq)
	// The first layer's weights over the concatenation: features rows, then encoding rows.
	wIn, bIn, wEnc := m.Params[0].Data, m.Params[1].Data, m.Params[2].Data
	w1, b1, wOut, bOut := m.Params[3].Data, m.Params[4].Data, m.Params[5].Data, m.Params[6].Data
	leakyF := func(z float64) float64 { return max(z, 0.01*z) }
	for r := 0; r < n; r++ {
		for c := 0; c < v; c++ {
			in := append([]float64{}, float64(x[r*p]), float64(x[r*p+1]), float64(x[r*p+2]))
			for d := 0; d < 6; d++ {
				in = append(in, float64(enc[c*6+d]))
			}
			h := make([]float64, hid)
			for j := range h {
				z := float64(bIn[j])
				for k, f := range in {
					if k < p {
						z += f * float64(wIn[k*hid+j])
					} else {
						z += f * float64(wEnc[(k-p)*hid+j])
					}
				}
				h[j] = leakyF(z)
			}
			h2 := make([]float64, hid)
			for j := range h2 {
				z := float64(b1[j])
				for k := range h {
					z += h[k] * float64(w1[k*hid+j])
				}
				h2[j] = leakyF(z)
			}
			want := float64(bOut[0])
			for k := range h2 {
				want += h2[k] * float64(wOut[k])
			}
			if g := float64(got[r*v+c]); math.Abs(g-want) > 1e-5*(1+math.Abs(want)) {
				t.Errorf("image %d vertex %d: %.7g, the loops give %.7g", r, c, g, want)
			}
		}
	}
}
