package features

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"cortexcast/backend/imageio"
)

// GaborConfig configures the Gabor-energy extractor.
type GaborConfig struct {
	// Size is the working resolution: the image's largest centred square is
	// resized (antialiased bicubic) to Size×Size. Of the form 8·2^a·3^b (32,
	// 48, 64, 96, 128, 144, 192, 256, …).
	Size int
	// Scales is the number of spatial frequencies, an octave apart.
	Scales int
	// MinFrequency is the coarsest spatial frequency in cycles per image.
	MinFrequency float64
	// Orientations is the number of filter orientations, evenly spaced over
	// 180°. Orientation o has angle θ = o·180°/Orientations counter-clockwise
	// on screen; θ = 0 responds to vertical stripes (luminance varying along x).
	Orientations int
	// Bandwidth is the full radial bandwidth at half height, in octaves.
	Bandwidth float64
	// Grid is the number of pooling cells per side for luminance energy, of
	// the form 2^a·3^b (1, 2, 3, 4, 6, 8, 9, 12, …).
	Grid int
	// ColorScales is how many of the coarsest scales are also computed on the
	// red−green and blue−yellow opponent channels (0 for none).
	ColorScales int
	// ColorGrid is the number of pooling cells per side for colour energy,
	// of the form 2^a·3^b.
	ColorGrid int
	// Compress is the pointwise nonlinearity applied to pooled energy:
	// "sqrt" (a compressive power law) or "none".
	Compress string
}

// DefaultGaborConfig returns the default configuration: 128×128 working
// resolution, 4 scales at 4, 8, 16 and 32 cycles per image, 8 orientations,
// one-octave bandwidth, an 8×8 pooling grid for luminance, the two coarsest
// scales on both colour-opponent channels pooled on a 4×4 grid, and square
// root compression: 2048 + 512 = 2560 features.
func DefaultGaborConfig() GaborConfig {
	return GaborConfig{
		Size:         128,
		Scales:       4,
		MinFrequency: 4,
		Orientations: 8,
		Bandwidth:    1,
		Grid:         8,
		ColorScales:  2,
		ColorGrid:    4,
		Compress:     "sqrt",
	}
}

// Gabor is the embedded Gabor-wavelet energy model of early visual cortex.
//
// Each image's largest centred square is resized to Size×Size and split into
// luminance (ITU-R BT.601 weights 0.299, 0.587, 0.114) and, at half
// resolution, the colour-opponent channels R−G and B−(R+G)/2. Every channel
// is extended by a quarter of its size on each side by mirror reflection (so
// that the frame border adds no edge) and Fourier transformed once. Each
// filter is a complex Gabor (a quadrature pair: the real part is the even,
// cosine-phase filter and the imaginary part the odd one) defined in the
// frequency domain as a Gaussian centred on its preferred frequency, with the
// mean (DC) response removed. Energy is the modulus of the complex response,
// √(even² + odd²), computed on a grid just fine enough for the filter's band
// (the spectrum is cropped around the filter and inverse transformed at that
// size, which changes no modulus). Filters are scaled so that a sine grating
// of amplitude A at the preferred frequency and orientation has energy A.
// Energy is averaged over the cells of a Grid×Grid (ColorGrid for colour)
// grid covering the image and then compressed.
//
// Feature order: luminance [scale][orientation][row][column], then colour
// [channel R−G, B−Y][scale][orientation][row][column]; FeatureIndex gives
// the position of one feature. Scales go from coarse to fine.
//
// A Gabor is safe for concurrent use.
type Gabor struct {
	cfg     GaborConfig
	id      string
	dim     int
	lum     planeGeom
	col     planeGeom
	lumFilt []filter // [scale][orientation]
	colFilt []filter // [colour scale][orientation]
	colBase int      // index of the first colour feature
	plans   map[int]*fftPlan
	pool    sync.Pool
}

// planeGeom is the geometry of one channel's padded canvas.
type planeGeom struct {
	n, pad, p int
}

// tap is one spectrum coefficient of a filter's cropped window: window[dst] =
// spectrum[src]·g, or conj(spectrum[-src-1])·g when src < 0 (coefficients of
// negative horizontal frequency come from the real transform's symmetry).
type tap struct {
	src, dst int32
	g        complex128
}

// filter is one Gabor filter on one plane, cropped to an m×m window.
type filter struct {
	m        int
	taps     []tap
	r0, rLen int // samples [r0, r0+rLen) cover the image on each axis
	grid     int
}

// NewGabor validates cfg and precomputes the filter bank.
func NewGabor(cfg GaborConfig) (*Gabor, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	g := &Gabor{cfg: cfg}
	g.lum = planeGeom{n: cfg.Size, pad: cfg.Size / 4, p: cfg.Size * 3 / 2}
	g.col = planeGeom{n: cfg.Size / 2, pad: cfg.Size / 8, p: cfg.Size * 3 / 4}
	sigmaRatio := (math.Exp2(cfg.Bandwidth) - 1) / (math.Exp2(cfg.Bandwidth) + 1) / math.Sqrt(2*math.Ln2)
	for s := 0; s < cfg.Scales; s++ {
		f := cfg.MinFrequency * math.Exp2(float64(s))
		for o := 0; o < cfg.Orientations; o++ {
			theta := math.Pi * float64(o) / float64(cfg.Orientations)
			ft, err := newFilter(g.lum, f, theta, sigmaRatio, cfg.Grid)
			if err != nil {
				return nil, fmt.Errorf("features: gabor luminance scale %d: %w", s, err)
			}
			g.lumFilt = append(g.lumFilt, ft)
			if s < cfg.ColorScales {
				ft, err := newFilter(g.col, f, theta, sigmaRatio, cfg.ColorGrid)
				if err != nil {
					return nil, fmt.Errorf("features: gabor colour scale %d: %w", s, err)
				}
				g.colFilt = append(g.colFilt, ft)
			}
		}
	}
	g.colBase = cfg.Scales * cfg.Orientations * cfg.Grid * cfg.Grid
	g.dim = g.colBase + 2*cfg.ColorScales*cfg.Orientations*cfg.ColorGrid*cfg.ColorGrid
	g.id = fmt.Sprintf("gabor-v1-n%d-s%df%go%db%gg%d-c%dg%d-%s", cfg.Size, cfg.Scales, cfg.MinFrequency,
		cfg.Orientations, cfg.Bandwidth, cfg.Grid, cfg.ColorScales, cfg.ColorGrid, cfg.Compress)
	g.plans = map[int]*fftPlan{}
	sizes := []int{g.lum.p, g.col.p}
	for _, fs := range [][]filter{g.lumFilt, g.colFilt} {
		for _, f := range fs {
			sizes = append(sizes, f.m)
		}
	}
	for _, n := range sizes {
		if g.plans[n] == nil {
			pl, err := newFFTPlan(n)
			if err != nil {
				return nil, fmt.Errorf("features: gabor: %w", err)
			}
			g.plans[n] = pl
		}
	}
	g.pool.New = func() any { return g.newWorker() }
	return g, nil
}

func (c GaborConfig) validate() error {
	switch {
	case c.Size < 32 || c.Size%8 != 0 || !smooth(c.Size/8):
		return fmt.Errorf("features: gabor Size %d must be 8·2^a·3^b and at least 32", c.Size)
	case c.Scales < 1 || c.Scales > 8:
		return fmt.Errorf("features: gabor Scales %d must be in 1..8", c.Scales)
	case !(c.MinFrequency > 0):
		return fmt.Errorf("features: gabor MinFrequency %g must be positive", c.MinFrequency)
	case c.Orientations < 1 || c.Orientations > 64:
		return fmt.Errorf("features: gabor Orientations %d must be in 1..64", c.Orientations)
	case !(c.Bandwidth >= 0.25 && c.Bandwidth <= 4):
		return fmt.Errorf("features: gabor Bandwidth %g octaves must be in 0.25..4", c.Bandwidth)
	case c.Grid < 1 || c.Grid > c.Size/4 || !smooth(c.Grid):
		return fmt.Errorf("features: gabor Grid %d must be 2^a·3^b in 1..%d", c.Grid, c.Size/4)
	case c.ColorScales < 0 || c.ColorScales > c.Scales:
		return fmt.Errorf("features: gabor ColorScales %d must be in 0..Scales (%d)", c.ColorScales, c.Scales)
	case c.ColorScales > 0 && (c.ColorGrid < 1 || c.ColorGrid > c.Size/8 || !smooth(c.ColorGrid)):
		return fmt.Errorf("features: gabor ColorGrid %d must be 2^a·3^b in 1..%d", c.ColorGrid, c.Size/8)
	case c.Compress != "sqrt" && c.Compress != "none":
		return fmt.Errorf("features: gabor Compress %q must be \"sqrt\" or \"none\"", c.Compress)
	}
	return nil
}

// windowReach is how far, in standard deviations, a filter's spectral
// Gaussian is kept around its centre (the gain there is 0.4%).
const windowReach = 3.3

// newFilter builds the filter of frequency f (cycles per image) and angle
// theta on plane pg, pooled on a grid×grid grid.
func newFilter(pg planeGeom, f, theta, sigmaRatio float64, grid int) (filter, error) {
	p := pg.p
	scale := float64(p) / float64(pg.n) // canvas cycles per image cycle
	k0 := f * scale
	sigma := sigmaRatio * k0
	reach := windowReach * sigma
	if k0+reach > float64(p)/2 {
		return filter{}, fmt.Errorf("frequency %g cycles/image with its band reaches %.1f cycles/image, above the Nyquist limit %d of a %d-pixel plane",
			f, (k0+reach)/scale, pg.n/2, pg.n)
	}
	// The window size m must hold the band, give at least two samples per
	// pooling cell, start the image on a whole sample (m·pad/p integer: m%6 == 0)
	// split the image's samples evenly into cells and be a length of the
	// form 2^a·3^b for the FFT.
	need := max(int(math.Ceil(2*reach))+1, 3*grid)
	m := need
	for ; m <= p; m++ {
		if m%6 == 0 && (2*m/3)%grid == 0 && smooth(m) {
			break
		}
	}
	if m > p {
		return filter{}, fmt.Errorf("no window of at most %d samples fits frequency %g with a %d×%d grid", p, f, grid, grid)
	}
	ft := filter{m: m, r0: m * pg.pad / p, rLen: m * pg.n / p, grid: grid}
	kx0, ky0 := k0*math.Cos(theta), -k0*math.Sin(theta)
	kcx, kcy := int(math.Round(kx0)), int(math.Round(ky0))
	// Sample j stands for canvas block [j·p/m, (j+1)·p/m); evaluate at its centre.
	delta := float64(p)/(2*float64(m)) - 0.5
	norm := 2 / float64(p*p)
	h := p/2 + 1
	for v := -m / 2; v < m/2; v++ {
		for u := -m / 2; u < m/2; u++ {
			kx, ky := kcx+u, kcy+v
			dx, dy := float64(kx)-kx0, float64(ky)-ky0
			gain := math.Exp(-(dx*dx + dy*dy) / (2 * sigma * sigma))
			if gain < 1e-4 {
				continue
			}
			mx, my := mod(kx, p), mod(ky, p)
			if mx == 0 && my == 0 {
				continue // no response to the mean
			}
			var src int32
			if mx <= p/2 {
				src = int32(my*h + mx)
			} else {
				src = -int32(mod(-ky, p)*h+(p-mx)) - 1
			}
			phase := 2 * math.Pi * float64(kx+ky) * delta / float64(p)
			row, col := mod(v, m), mod(u, m)
			ft.taps = append(ft.taps, tap{
				src: src,
				dst: int32(row*m + col),
				g:   complex(norm*gain*math.Cos(phase), norm*gain*math.Sin(phase)),
			})
		}
	}
	return ft, nil
}

// smooth reports whether n is of the form 2^a·3^b (a length fftPlan accepts).
func smooth(n int) bool {
	for n%2 == 0 {
		n /= 2
	}
	for n%3 == 0 {
		n /= 3
	}
	return n == 1
}

func mod(a, n int) int {
	a %= n
	if a < 0 {
		a += n
	}
	return a
}

// ID returns the configuration's identifier, e.g.
// "gabor-v1-n128-s4f4o8b1g8-c2g4-sqrt" for the default.
func (g *Gabor) ID() string { return g.id }

// Dim returns the number of features per image.
func (g *Gabor) Dim() int { return g.dim }

// Config returns the configuration.
func (g *Gabor) Config() GaborConfig { return g.cfg }

// FeatureIndex returns the position in a feature row of the energy of
// channel ch (0 luminance, 1 red−green, 2 blue−yellow) at scale s (0 is the
// coarsest), orientation o and pooling cell (row, col). It panics for
// indices out of range.
func (g *Gabor) FeatureIndex(ch, s, o, row, col int) int {
	c := g.cfg
	grid, scales, base := c.Grid, c.Scales, 0
	if ch > 0 {
		grid, scales, base = c.ColorGrid, c.ColorScales, g.colBase
	}
	if ch < 0 || ch > 2 || s < 0 || s >= scales || o < 0 || o >= c.Orientations || row < 0 || row >= grid || col < 0 || col >= grid {
		panic(fmt.Sprintf("features: FeatureIndex(%d, %d, %d, %d, %d) out of range", ch, s, o, row, col))
	}
	if ch > 0 {
		s += (ch - 1) * scales
	}
	return base + ((s*c.Orientations+o)*grid+row)*grid + col
}

// Extract computes the features of imgs in parallel over GOMAXPROCS workers.
// The result is len(imgs)×Dim(), row-major, in input order, and does not
// depend on the number of workers. It returns ctx.Err() if ctx is cancelled
// before all images are done, and an error naming the image's index if an
// image has no pixels or cannot be read.
func (g *Gabor) Extract(ctx context.Context, imgs []image.Image) ([]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]float32, len(imgs)*g.dim)
	if len(imgs) == 0 {
		return out, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next   atomic.Int64
		wg     sync.WaitGroup
		mu     sync.Mutex
		errIdx = len(imgs)
		errVal error
	)
	workers := min(runtime.GOMAXPROCS(0), len(imgs))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := g.pool.Get().(*worker)
			defer g.pool.Put(w)
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(imgs) {
					return
				}
				if err := w.extract(imgs[i], out[i*g.dim:(i+1)*g.dim]); err != nil {
					mu.Lock()
					if i < errIdx {
						errIdx, errVal = i, fmt.Errorf("features: %s: image %d: %w", g.id, i, err)
					}
					mu.Unlock()
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	if errVal != nil {
		return nil, errVal
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// worker holds the buffers of one goroutine.
type worker struct {
	g                     *Gabor
	lumSpec               []complex128
	rgSpec, bySpec        []complex128
	lum, rg, by           []float64
	window, cols, scratch []complex128
	sums                  []float64
}

func (g *Gabor) newWorker() *worker {
	lp, cp := g.lum.p, g.col.p
	maxM, maxMR := 0, 0
	for _, fs := range [][]filter{g.lumFilt, g.colFilt} {
		for _, f := range fs {
			maxM = max(maxM, f.m)
			maxMR = max(maxMR, f.m*f.rLen)
		}
	}
	spec := lp * (lp/2 + 1)
	grid := max(g.cfg.Grid, g.cfg.ColorGrid)
	w := &worker{
		g:       g,
		lumSpec: make([]complex128, spec),
		lum:     make([]float64, g.lum.n*g.lum.n),
		window:  make([]complex128, maxM*maxM),
		cols:    make([]complex128, max(maxMR, lp*g.lum.n/2)),
		scratch: make([]complex128, max(spec, maxM*maxM)),
		sums:    make([]float64, grid*grid),
	}
	if g.cfg.ColorScales > 0 {
		w.rgSpec = make([]complex128, cp*(cp/2+1))
		w.bySpec = make([]complex128, cp*(cp/2+1))
		w.rg = make([]float64, g.col.n*g.col.n)
		w.by = make([]float64, g.col.n*g.col.n)
	}
	return w
}

// extract writes the features of one image into dst (len Dim).
func (w *worker) extract(img image.Image, dst []float32) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("reading the image panicked: %v", r)
		}
	}()
	if img == nil {
		return errors.New("image is nil")
	}
	if b := img.Bounds(); b.Dx() <= 0 || b.Dy() <= 0 {
		return fmt.Errorf("image %v has no pixels", b)
	}
	g := w.g
	n := g.cfg.Size
	rgb := imageio.ResizeImage(imageio.CenterSquare(img), n, n)
	for i := range w.lum {
		p := rgb.Pix[3*i : 3*i+3 : 3*i+3]
		w.lum[i] = 0.299*float64(p[0]) + 0.587*float64(p[1]) + 0.114*float64(p[2])
	}
	w.forward(g.lum, w.lum, w.lumSpec)
	for i, f := range g.lumFilt {
		w.apply(&f, w.lumSpec, dst[i*g.cfg.Grid*g.cfg.Grid:])
	}
	if g.cfg.ColorScales > 0 {
		// 2×2 box average to half resolution, then opponent channels.
		h := n / 2
		for y := 0; y < h; y++ {
			for x := 0; x < h; x++ {
				var c [3]float64
				for _, o := range [4]int{0, 1, n, n + 1} {
					p := rgb.Pix[3*(2*y*n+2*x+o):]
					c[0] += float64(p[0])
					c[1] += float64(p[1])
					c[2] += float64(p[2])
				}
				w.rg[y*h+x] = (c[0] - c[1]) / 4
				w.by[y*h+x] = (c[2] - (c[0]+c[1])/2) / 4
			}
		}
		w.forward(g.col, w.rg, w.rgSpec)
		w.forward(g.col, w.by, w.bySpec)
		cells := g.cfg.ColorGrid * g.cfg.ColorGrid
		off := g.colBase
		for _, spec := range [][]complex128{w.rgSpec, w.bySpec} {
			for _, f := range g.colFilt {
				w.apply(&f, spec, dst[off:])
				off += cells
			}
		}
	}
	if g.cfg.Compress == "sqrt" {
		for i, v := range dst {
			dst[i] = float32(math.Sqrt(float64(v)))
		}
	}
	return nil
}

// reflect maps a canvas coordinate to the image coordinate it mirrors.
func reflect(i, n int) int {
	for i < 0 || i >= n {
		if i < 0 {
			i = -1 - i
		} else {
			i = 2*n - 1 - i
		}
	}
	return i
}

// forward writes the 2-D Fourier transform of the mirror-padded n×n plane
// src into spec (p rows of p/2+1 non-negative horizontal frequencies).
func (w *worker) forward(pg planeGeom, src []float64, spec []complex128) {
	n, pad, p := pg.n, pg.pad, pg.p
	h, half := p/2+1, n/2
	pl := w.g.plans[p]
	// The mean is dropped by every filter; removing it first keeps a uniform
	// image's energy exactly zero instead of rounding noise.
	var mean float64
	for _, v := range src {
		mean += v
	}
	mean /= float64(len(src))
	// Transform the image rows along x, two real rows per complex sequence
	// (row q as the real part, row q+n/2 as the imaginary part), all at once:
	// z[x*half+q] holds canvas column x of pair q.
	z := w.cols[:p*half]
	for x := 0; x < p; x++ {
		sx := reflect(x-pad, n)
		zr := z[x*half : (x+1)*half]
		for q := range zr {
			zr[q] = complex(src[q*n+sx]-mean, src[(q+half)*n+sx]-mean)
		}
	}
	pl.transform(z, w.scratch, half, false)
	// Separate the pairs: A(k) = (Z(k) + conj Z(−k))/2, B(k) = (Z(k) − conj Z(−k))/2i.
	for kx := 0; kx < h; kx++ {
		zk := z[kx*half : (kx+1)*half]
		zn := z[((p-kx)%p)*half : ((p-kx)%p+1)*half]
		for q, a := range zk {
			b := complex(real(zn[q]), -imag(zn[q]))
			spec[(q+pad)*h+kx] = (a + b) * 0.5
			d := a - b
			spec[(q+half+pad)*h+kx] = complex(imag(d)*0.5, -real(d)*0.5)
		}
	}
	// Canvas rows outside the image mirror image rows.
	for y := 0; y < p; y++ {
		if sy := reflect(y-pad, n) + pad; sy != y {
			copy(spec[y*h:(y+1)*h], spec[sy*h:(sy+1)*h])
		}
	}
	// Then along y, all p/2+1 columns at once.
	pl.transform(spec, w.scratch, h, false)
}

// apply computes one filter's energy on a spectrum and writes the pooled
// means (grid×grid, row-major) to dst.
func (w *worker) apply(f *filter, spec []complex128, dst []float32) {
	m, r0, rl := f.m, f.r0, f.rLen
	pl := w.g.plans[m]
	win := w.window[:m*m]
	clear(win)
	for _, t := range f.taps {
		var s complex128
		if t.src >= 0 {
			s = spec[t.src]
		} else {
			c := spec[-t.src-1]
			s = complex(real(c), -imag(c))
		}
		win[t.dst] = s * t.g
	}
	// Inverse along y for every column; then the image rows, transposed so
	// that the inverse along x also runs on all of them at once.
	pl.transform(win, w.scratch, m, true)
	cols := w.cols[:m*rl]
	for yy := 0; yy < rl; yy++ {
		row := win[(r0+yy)*m : (r0+yy+1)*m]
		for u, v := range row {
			cols[u*rl+yy] = v
		}
	}
	pl.transform(cols, w.scratch, rl, true)
	grid := f.grid
	cell := rl / grid
	sums := w.sums[:grid*grid]
	clear(sums)
	for x := r0; x < r0+rl; x++ {
		cx := (x - r0) / cell
		for yy, v := range cols[x*rl : (x+1)*rl] {
			sums[(yy/cell)*grid+cx] += math.Sqrt(real(v)*real(v) + imag(v)*imag(v))
		}
	}
	inv := 1 / float64(cell*cell)
	for i, s := range sums {
		dst[i] = float32(s * inv)
	}
}
