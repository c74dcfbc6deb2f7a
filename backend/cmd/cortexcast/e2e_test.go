package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"cortexcast/meshes"
)

// repoRoot walks up from the working directory to the directory holding go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

// testOut is where the browser test leaves its screenshots: $CORTEXCAST_TESTOUT or
// <repo>/testout/<test name>.
func testOut(t *testing.T) string {
	dir := os.Getenv("CORTEXCAST_TESTOUT")
	if dir == "" {
		dir = filepath.Join(repoRoot(t), "testout")
	}
	dir = filepath.Join(dir, t.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func findChromium(t *testing.T) string {
	for _, p := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium not found: `make test` installs Debian's chromium (apt-get) when run as root")
	}
	t.Skip("chromium not found; `make test` installs it")
	return ""
}

// buildWeb builds the wasm viewer and lays out the page in a temporary directory.
func buildWeb(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	web := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(web, "cortexcast.wasm"), "./wasm")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build wasm: %v\n%s", err, out)
	}
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	goroot := strings.TrimSpace(string(out))
	for src, dst := range map[string]string{
		filepath.Join(goroot, "lib", "wasm", "wasm_exec.js"): "wasm_exec.js",
		filepath.Join(root, "wasm", "index.html"):            "index.html",
	} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(web, dst), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return web
}

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkerboard is a high-contrast image that drives early visual cortex strongly.
func checkerboard(size, cell int) image.Image {
	img := image.NewGray(image.Rect(0, 0, size, size))
	for y := range size {
		for x := range size {
			if (x/cell+y/cell)%2 == 0 {
				img.SetGray(x, y, color.Gray{255})
			}
		}
	}
	return img
}

// blank is a uniform mid-gray image: no contrast anywhere.
func blank(size int) image.Image {
	img := image.NewGray(image.Rect(0, 0, size, size))
	for i := range img.Pix {
		img.Pix[i] = 128
	}
	return img
}

// pixelStats describes a screenshot: how much of it differs from the background and how
// much is colored (the overlay; the underlay is gray).
type pixelStats struct {
	w, h, drawn, colored int
}

func stats(t *testing.T, pngData []byte) (pixelStats, *image.RGBA) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(pngData))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	b := img.Bounds()
	rgba := image.NewRGBA(b)
	bg := img.At(b.Min.X+1, b.Min.Y+b.Dy()/2)
	br, bgg, bb, _ := bg.RGBA()
	s := pixelStats{w: b.Dx(), h: b.Dy()}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := img.At(x, y)
			rgba.Set(x, y, c)
			r, g, bl, _ := c.RGBA()
			if absDiff(r, br)+absDiff(g, bgg)+absDiff(bl, bb) > 3*2560 {
				s.drawn++
			}
			if absDiff(r, g)+absDiff(g, bl) > 2*6400 {
				s.colored++
			}
		}
	}
	return s, rgba
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

// meanDiff is the mean absolute per-channel difference of two same-size images (0..255).
func meanDiff(a, b *image.RGBA) float64 {
	if a.Bounds() != b.Bounds() {
		return 255
	}
	var s float64
	for i := range a.Pix {
		d := int(a.Pix[i]) - int(b.Pix[i])
		if d < 0 {
			d = -d
		}
		s += float64(d)
	}
	return s / float64(len(a.Pix))
}

// demo is a tiny simulated dataset served on loopback with the built page, and a headless
// chromium tab: what the browser tests share.
type demo struct {
	url     string          // the page
	web     string          // the built page directory
	out     string          // where screenshots go
	log     *bytes.Buffer   // the server's log
	browser context.Context // a chromedp tab, not yet on the page
}

// startDemo builds the page, simulates one subject with train and test images, trains the
// Gabor ridge model (and a model of each of the extra kinds), serves it on 127.0.0.1 and
// starts headless chromium. Everything stops when the test ends; timeout bounds the whole test.
func startDemo(t *testing.T, timeout time.Duration, train, test int, seed int64, extraKinds ...string) *demo {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := findChromium(t)
	meshDir, err := meshes.FindFsaverageDir("")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skipf("no fsaverage meshes: %v", err)
	}
	d := &demo{out: testOut(t), web: buildWeb(t), log: &bytes.Buffer{}}
	work := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	e := &env{stdout: io.Discard, stderr: io.Discard, log: slog.New(slog.NewTextHandler(d.log, nil))}
	so := &simOptions{out: filepath.Join(work, "sim"), subjects: 1, train: train, test: test, seed: seed,
		masks: filepath.Join(meshDir, "algonauts2023", "roi_masks")}
	o := trainOptions{Data: so.out, Cache: filepath.Join(work, "features"), Models: filepath.Join(work, "models"), Extractor: "gabor"}
	if err := prepareDemo(ctx, e, so, o); err != nil {
		t.Fatal(err)
	}
	for _, kind := range extraKinds {
		ko := o
		ko.Model = kind
		if _, err := trainAll(ctx, e, ko); err != nil {
			t.Fatalf("train a %s model: %v", kind, err)
		}
	}

	addrc := make(chan net.Addr, 1)
	srvCtx, stopSrv := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		errc <- serve(srvCtx, e, o, serveOptions{addr: "127.0.0.1:0", web: d.web, meshes: meshDir, ready: func(a net.Addr) { addrc <- a }})
	}()
	select {
	case a := <-addrc:
		d.url = "http://" + a.String() + "/"
	case err := <-errc:
		t.Fatalf("serve: %v", err)
	}
	t.Cleanup(func() {
		stopSrv()
		if err := <-errc; err != nil {
			t.Errorf("serve: %v", err)
		}
	})

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("enable-unsafe-swiftshader", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("use-gl", "angle"), chromedp.Flag("use-angle", "swiftshader"),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 800))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { bcancel(); acancel() })
	d.browser = bctx
	return d
}

// TestBrowserEndToEnd runs the whole slice: a small simulated dataset, Gabor features, a
// ridge model, the real server on loopback, and the wasm viewer in headless chromium. It
// uploads two images through the page's own file input and checks from canvas pixels that
// the brain is drawn and that the map changes; then it uploads a bad file and checks the
// error shown in the page.
func TestBrowserEndToEnd(t *testing.T) {
	d := startDemo(t, 8*time.Minute, 120, 8, 3)
	out, bctx, url, logBuf := d.out, d.browser, d.url, d.log

	imgs := t.TempDir()
	writePNG(t, filepath.Join(imgs, "checkerboard.png"), checkerboard(256, 16))
	writePNG(t, filepath.Join(imgs, "gray.png"), blank(256))
	if err := os.WriteFile(filepath.Join(imgs, "notes.png"), []byte("this is a text file, not a PNG"), 0o644); err != nil {
		t.Fatal(err)
	}

	shot := func(name string) (pixelStats, *image.RGBA) {
		t.Helper()
		// Let the game loop draw a few frames with the new state.
		if err := chromedp.Do(bctx, chromedp.Sleep(700*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		buf, err := chromedp.Run(bctx, chromedp.Screenshot(chromedp.CSS("canvas"), chromedp.NodeVisible))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(out, name+".png"), buf, 0o644); err != nil {
			t.Fatal(err)
		}
		s, img := stats(t, buf)
		t.Logf("%s: %dx%d, %d drawn, %d colored", name, s.w, s.h, s.drawn, s.colored)
		return s, img
	}
	waitAttr := func(sel string) {
		t.Helper()
		wctx, wcancel := context.WithTimeout(bctx, 90*time.Second)
		defer wcancel()
		if err := chromedp.Do(wctx, chromedp.WaitReady(chromedp.CSS(sel))); err != nil {
			status, _ := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("#status")))
			errText, _ := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("#error")))
			t.Fatalf("waiting for %s: %v (status %q, error %q)\nserver log:\n%s", sel, err, status, errText, logBuf.String())
		}
	}

	if err := chromedp.Do(bctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	waitAttr(`body[data-ready="1"]`)
	under, underImg := shot("1-underlay")
	if frac := float64(under.drawn) / float64(under.w*under.h); frac < 0.05 {
		t.Fatalf("brain not drawn: only %.1f%% of the canvas differs from the background", 100*frac)
	}

	upload := func(file string) {
		t.Helper()
		if err := chromedp.Do(bctx, chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{filepath.Join(imgs, file)})); err != nil {
			t.Fatalf("upload %s: %v", file, err)
		}
	}
	upload("checkerboard.png")
	waitAttr(`body[data-maps="1"]`)
	first, firstImg := shot("2-map-checkerboard")
	upload("gray.png")
	waitAttr(`body[data-maps="2"]`)
	second, secondImg := shot("3-map-gray")

	if first.colored < under.colored+500 {
		t.Errorf("no overlay after the first map: %d colored pixels, %d before", first.colored, under.colored)
	}
	if d := meanDiff(underImg, firstImg); d < 1 {
		t.Errorf("the first map did not change the picture (mean difference %.2f)", d)
	}
	if d := meanDiff(firstImg, secondImg); d < 1 {
		t.Errorf("two different images gave the same picture (mean difference %.2f; colored %d vs %d)", d, first.colored, second.colored)
	}

	upload("notes.png")
	waitAttr(`body[data-error]`)
	errText, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("#error"), chromedp.NodeVisible))
	if err != nil {
		t.Fatal(err)
	}
	shot("4-bad-upload")
	if !strings.Contains(errText, "notes.png") || !strings.Contains(strings.ToLower(errText), "not an image") {
		t.Errorf("error shown for a text file: %q", errText)
	}
	// The server keeps serving: the next good upload still gives a map.
	upload("checkerboard.png")
	waitAttr(`body[data-maps="3"]`)
	fmt.Fprintf(os.Stderr, "browser test screenshots in %s\n", out)
}
