package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestViewerBrowser drives the viewer's controls in headless chromium against one server
// on a tiny simulated dataset: a synthetic drag-and-drop upload, preset views, ROI outlines,
// the flat map, click-to-pin readout, PNG export, the URL state, presentation mode, the
// help overlay and a bad dropped file, then picking another stored model and switching to
// full fsaverage. Each state's screenshot is saved under testOut.
func TestViewerBrowser(t *testing.T) {
	d := startDemo(t, 5*time.Minute, 60, 4, 5, "baseline")
	out, web, bctx, url, logBuf := d.out, d.web, d.browser, d.url, d.log

	if st, err := os.Stat(filepath.Join(web, "cortexcast.wasm")); err == nil {
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		raw, _ := os.ReadFile(filepath.Join(web, "cortexcast.wasm"))
		zw.Write(raw)
		zw.Close()
		t.Logf("wasm: %.1f MB, %.1f MB gzip-compressed", float64(st.Size())/1e6, float64(gz.Len())/1e6)
	}
	b := &browser{t: t, ctx: bctx, out: out, log: logBuf}
	start := time.Now()
	b.do(chromedp.Navigate(url))
	b.wait(`body[data-ready="1"]`)
	t.Logf("page load to brain shown: %v", time.Since(start).Round(time.Millisecond))
	_, underImg := b.shot("01-underlay")

	var pngBuf bytes.Buffer
	if err := png.Encode(&pngBuf, checkerboard(256, 16)); err != nil {
		t.Fatal(err)
	}
	var (
		mapImg, ventralImg *image.RGBA
		shareHash          string
	)
	t.Run("drop", func(t *testing.T) {
		b.t = t
		dropAt := time.Now()
		b.drop("dropped checkerboard.png", pngBuf.Bytes(), "image/png")
		b.wait(`body[data-maps="1"]`)
		t.Logf("drop to first map shown: %v (%v after navigation)", time.Since(dropAt).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		var s pixelStats
		s, mapImg = b.shot("02-drop-map")
		if s.colored < 2000 {
			t.Errorf("no overlay after a drop: %d colored pixels", s.colored)
		}
		if d := meanDiff(underImg, mapImg); d < 1 {
			t.Errorf("the dropped image did not change the picture (mean difference %.2f)", d)
		}
	})
	t.Run("preset-view", func(t *testing.T) {
		b.t = t
		b.do(chromedp.Click(chromedp.CSS(`button[data-view="ventral"]`)))
		_, ventralImg = b.shot("03-ventral")
		if d := meanDiff(mapImg, ventralImg); d < 1 {
			t.Errorf("the ventral view looks like the default view (mean difference %.2f)", d)
		}
		b.do(chromedp.Click(chromedp.CSS(`button[data-view="lateral"]`)))
		_, lateral := b.shot("04-lateral")
		if d := meanDiff(ventralImg, lateral); d < 1 {
			t.Errorf("the lateral view looks like the ventral view (mean difference %.2f)", d)
		}
	})
	t.Run("roi-outlines", func(t *testing.T) {
		b.t = t
		n := b.evalInt(`document.querySelectorAll('#rois input').length`)
		if n == 0 {
			t.Skip("the mesh bundle has no ROI labels")
		}
		_, before := b.shot("05-before-outlines")
		b.do(chromedp.Click(chromedp.CSS(`#rois input`)))
		_, after := b.shot("06-outlines")
		if d := meanDiff(before, after); d < 0.05 {
			t.Errorf("ROI outlines did not change the picture (mean difference %.3f)", d)
		}
	})
	t.Run("pin-readout", func(t *testing.T) {
		b.t = t
		// Click the middle of the left hemisphere's panel (the left half of the canvas).
		xy := b.evalString(`(function(){const r=document.querySelector('canvas').getBoundingClientRect();return (r.left+r.width/4)+','+(r.top+r.height/2)})()`)
		var x, y float64
		if _, err := fmt.Sscanf(xy, "%g,%g", &x, &y); err != nil {
			t.Fatalf("canvas position %q: %v", xy, err)
		}
		b.do(chromedp.MouseClickXY(x, y))
		// The pointer stays there: the hover readout follows it too.
		b.do(chromedp.Sleep(300 * time.Millisecond))
		text := b.evalString(`document.getElementById('readout').textContent`)
		b.shot("07-pinned")
		if !strings.Contains(text, "pinned lh vertex") || !strings.Contains(text, "value:") {
			t.Errorf("readout after a click: %q", text)
		}
	})
	t.Run("flat", func(t *testing.T) {
		b.t = t
		b.evalString(`(function(){const s=document.getElementById('surface');s.value='flat';s.dispatchEvent(new Event('change'));return s.value})()`)
		s, flat := b.shot("08-flat")
		if frac := float64(s.drawn) / float64(s.w*s.h); frac < 0.05 {
			t.Errorf("flat map not drawn: %.1f%% of the canvas differs from the background", 100*frac)
		}
		if d := meanDiff(ventralImg, flat); d < 1 {
			t.Errorf("the flat map looks like the ventral view (mean difference %.2f)", d)
		}
		if got := b.evalString(`document.getElementById('surface').value`); got != "flat" {
			t.Errorf("surface after choosing flat: %q (the bundle lacks the flat map?)", got)
		}
	})
	t.Run("export", func(t *testing.T) {
		b.t = t
		b.do(chromedp.Click(chromedp.CSS(`#export`)))
		b.wait(`body[data-export]`)
		b64 := b.eval(`(function(){
			const u = window.cortexcast.exportBytes; let s = '';
			for (let i = 0; i < u.length; i += 8192) s += String.fromCharCode.apply(null, u.subarray(i, i + 8192));
			return btoa(s); })()`)
		data, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			t.Fatal(err)
		}
		if got := b.evalString(`document.body.dataset.export`); got != fmt.Sprint(len(data)) {
			t.Errorf("data-export %s, blob has %d bytes", got, len(data))
		}
		if err := os.WriteFile(filepath.Join(out, "09-export.png"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		s, _ := stats(t, data)
		cw := b.evalInt(`document.querySelector('canvas').width`)
		ch := b.evalInt(`document.querySelector('canvas').height`)
		if s.w != cw || s.h != ch {
			t.Errorf("exported %dx%d, the canvas is %dx%d", s.w, s.h, cw, ch)
		}
		if frac := float64(s.drawn) / float64(s.w*s.h); frac < 0.05 || s.colored < 1000 {
			t.Errorf("export shows no brain or map: %.1f%% drawn, %d colored", 100*frac, s.colored)
		}
	})
	t.Run("url-state", func(t *testing.T) {
		b.t = t
		b.do(chromedp.Sleep(800 * time.Millisecond)) // the hash follows the state within a few frames
		shareHash = b.evalString(`location.hash`)
		for _, want := range []string{"surface=flat", "image=dropped+checkerboard.png", "roi="} {
			if !strings.Contains(shareHash, want) {
				t.Errorf("URL hash %q lacks %q", shareHash, want)
			}
		}
		// A shared link restores the view in a fresh page.
		b.do(chromedp.Navigate(url + "?reload=1" + shareHash))
		b.wait(`body[data-ready="1"]`)
		b.do(chromedp.Sleep(800 * time.Millisecond))
		if got := b.evalString(`document.getElementById('surface').value`); got != "flat" {
			t.Errorf("surface after opening the link: %q", got)
		}
		if got := b.evalString(`'#' + window.cortexcast.state()`); !strings.Contains(got, "surface=flat") || !strings.Contains(got, "roi=") {
			t.Errorf("state after opening %q: %q", shareHash, got)
		}
		b.shot("10-restored")
	})
	t.Run("present-and-help", func(t *testing.T) {
		b.t = t
		b.evalString(`window.cortexcast.key('f'); 'ok'`)
		b.wait(`body[data-present="true"]`)
		b.fullShot("11-present")
		b.evalString(`window.cortexcast.key('Escape'); 'ok'`)
		b.wait(`body[data-present="false"]`)
		b.do(chromedp.KeyEvent("?"))
		b.wait(`body.help`)
		b.fullShot("12-help")
		b.do(chromedp.KeyEvent("?"))
	})
	t.Run("side-by-side", func(t *testing.T) {
		b.t = t
		b.wait(`body[data-gallery]`)
		b.evalString(`(function(){const s=document.getElementById('surface');s.value='inflated';s.dispatchEvent(new Event('change'));
			const m=document.getElementById('mode');m.value='compare';m.dispatchEvent(new Event('change'));return m.value})()`)
		b.wait(`body[data-compare="true"]`)
		b.do(chromedp.Click(chromedp.CSS(`#gallery img[data-split="train"]`)))
		b.wait(`body[data-measured="1"]`)
		b.do(chromedp.Sleep(500 * time.Millisecond)) // the predicted map of the same image
		s, img := b.shot("14-side-by-side")
		left, right := coloredHalves(img)
		t.Logf("side by side: %d colored pixels left, %d right (%d in all)", left, right, s.colored)
		if left < 1000 || right < 1000 {
			t.Errorf("side by side: %d colored pixels on the left (predicted), %d on the right (measured); want both > 1000", left, right)
		}
		b.fullShot("15-side-by-side-page")
		b.evalString(`(function(){const m=document.getElementById('mode');m.value='correlation';m.dispatchEvent(new Event('change'));return m.value})()`)
		b.wait(`body[data-correlation="1"]`)
		if s, _ := b.shot("16-correlation"); s.colored < 1000 {
			t.Errorf("correlation map: %d colored pixels", s.colored)
		}
		b.evalString(`(function(){const m=document.getElementById('mode');m.value='difference';m.dispatchEvent(new Event('change'));return m.value})()`)
		b.do(chromedp.Click(chromedp.CSS(`#gallery img[data-split="train"]:nth-child(2)`)))
		b.wait(`body[data-difference="1"]`)
		if s, _ := b.shot("17-difference"); s.colored < 1000 {
			t.Errorf("difference map: %d colored pixels", s.colored)
		}
	})
	t.Run("bad-drop", func(t *testing.T) {
		b.t = t
		b.drop("notes.png", []byte("this is a text file, not a PNG"), "image/png")
		b.wait(`body[data-error]`)
		text := b.evalString(`document.getElementById('error').textContent`)
		b.fullShot("13-bad-drop")
		if !strings.Contains(text, "notes.png") || !strings.Contains(strings.ToLower(text), "not an image") {
			t.Errorf("error shown for a dropped text file: %q", text)
		}
	})
	t.Run("model", func(t *testing.T) {
		b.t = t
		b.setSelect("surface", "inflated")
		// Back to one predicted map (the dataset image shown is predicted again), then the
		// checkerboard dropped: the map a model change predicts again.
		predicted := b.evalInt(`+(document.body.dataset.predicted || 0)`)
		b.setSelect("mode", "predicted")
		b.wait(fmt.Sprintf(`body[data-predicted="%d"]`, predicted+1))
		maps := b.evalInt(`+document.body.dataset.maps`)
		b.drop("checkerboard.png", pngBuf.Bytes(), "image/png")
		b.wait(fmt.Sprintf(`body[data-maps="%d"]`, maps+1))
		b.wait(`body[data-models="2"]`)
		labels := b.evalString(`Array.from(document.querySelectorAll('#model option')).map(o => o.value + '=' + o.textContent).join('\n')`)
		t.Logf("model options:\n%s", labels)
		if !strings.Contains(labels, "=ridge · gabor") || !strings.Contains(labels, "(served)") || !strings.Contains(labels, "subj01_baseline_gabor") || !strings.Contains(labels, "r̄ ") {
			t.Errorf("model options do not list the served ridge and the baseline model with kind, features and mean r:\n%s", labels)
		}
		_, ridgeImg := b.shot("20-ridge")
		maps = b.evalInt(`+document.body.dataset.maps`)
		baseline := b.evalString(`Array.from(document.querySelectorAll('#model option')).map(o => o.value).find(v => v.includes('baseline'))`)
		b.setSelect("model", baseline)
		b.wait(fmt.Sprintf(`body[data-maps="%d"]`, maps+1))
		s, baseImg := b.shot("21-baseline")
		b.fullShot("21-baseline-page")
		if s.colored < 2000 {
			t.Errorf("no overlay with the baseline model: %d colored pixels", s.colored)
		}
		if d := meanDiff(ridgeImg, baseImg); d < 0.5 {
			t.Errorf("the baseline model's map looks like the ridge model's (mean difference %.2f)", d)
		}
		if st := b.evalString(`window.cortexcast.state()`); !strings.Contains(st, "model="+baseline) {
			t.Errorf("URL state %q does not name the model", st)
		}
	})
	t.Run("full-resolution", func(t *testing.T) {
		b.t = t
		before := b.evalInt(`+document.body.dataset.overlayVertices`)
		maps := b.evalInt(`+document.body.dataset.maps`)
		_, lowImg := b.shot("22-fsaverage5")
		start := time.Now()
		b.setSelect("mesh", "fsaverage")
		b.wait(`body[data-mesh="fsaverage"]`)
		b.wait(fmt.Sprintf(`body[data-maps="%d"]`, maps+1))
		t.Logf("switch to fsaverage to its map shown: %v", time.Since(start).Round(time.Millisecond))
		s, fullImg := b.shot("23-fsaverage")
		b.fullShot("23-fsaverage-page")
		after := b.evalInt(`+document.body.dataset.overlayVertices`)
		t.Logf("vertices colored: %d on fsaverage5, %d on fsaverage", before, after)
		if after < 8*before || before == 0 {
			t.Errorf("the map on fsaverage colors %d vertices, on fsaverage5 %d: not at the new resolution", after, before)
		}
		if frac := float64(s.drawn) / float64(s.w*s.h); frac < 0.05 || s.colored < 2000 {
			t.Errorf("fsaverage brain not drawn or not colored: %.1f%% drawn, %d colored", 100*frac, s.colored)
		}
		if d := meanDiff(lowImg, fullImg); d < 0.05 {
			t.Errorf("fsaverage looks exactly like fsaverage5 (mean difference %.3f)", d)
		}
		if st := b.evalString(`window.cortexcast.state()`); !strings.Contains(st, "mesh=fsaverage") || !strings.Contains(st, "model=") {
			t.Errorf("URL state %q lost the mesh or the model", st)
		}
		// A new upload is predicted at the new resolution.
		var gray bytes.Buffer
		if err := png.Encode(&gray, blank(256)); err != nil {
			t.Fatal(err)
		}
		b.drop("gray.png", gray.Bytes(), "image/png")
		b.wait(fmt.Sprintf(`body[data-maps="%d"]`, maps+2))
		_, grayImg := b.shot("24-fsaverage-gray")
		if n := b.evalInt(`+document.body.dataset.overlayVertices`); n != after {
			t.Errorf("the upload's map colors %d vertices, the first fsaverage map %d", n, after)
		}
		if d := meanDiff(fullImg, grayImg); d < 0.5 {
			t.Errorf("a gray image gave the checkerboard's picture on fsaverage (mean difference %.2f)", d)
		}
	})
}

// browser bundles the chromedp context of TestViewerBrowser with its helpers.
type browser struct {
	t   *testing.T
	ctx context.Context
	out string
	log *bytes.Buffer
}

func (b *browser) do(a chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, a); err != nil {
		b.t.Fatal(err)
	}
}

func (b *browser) eval(js string, opts ...chromedp.EvaluateOption) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js, opts...))
	if err != nil {
		b.t.Fatalf("evaluate %.60q: %v", js, err)
	}
	return v
}

func (b *browser) evalString(js string) string { b.t.Helper(); return b.eval(js) }

func (b *browser) evalInt(js string) int {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](js))
	if err != nil {
		b.t.Fatalf("evaluate %.60q: %v", js, err)
	}
	return v
}

func (b *browser) wait(sel string) {
	b.t.Helper()
	wctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(wctx, chromedp.WaitReady(chromedp.CSS(sel))); err != nil {
		status, _ := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("#status")))
		errText, _ := chromedp.Run(b.ctx, chromedp.TextContent(chromedp.CSS("#error")))
		b.t.Fatalf("waiting for %s: %v (status %q, error %q)\nserver log:\n%s", sel, err, status, errText, b.log.String())
	}
}

// shot saves a screenshot of the canvas after a few frames and returns its statistics.
func (b *browser) shot(name string) (pixelStats, *image.RGBA) {
	b.t.Helper()
	b.do(chromedp.Sleep(600 * time.Millisecond))
	buf, err := chromedp.Run(b.ctx, chromedp.Screenshot(chromedp.CSS("canvas"), chromedp.NodeVisible))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.out, name+".png"), buf, 0o644); err != nil {
		b.t.Fatal(err)
	}
	s, img := stats(b.t, buf)
	b.t.Logf("%s: %dx%d, %d drawn, %d colored", name, s.w, s.h, s.drawn, s.colored)
	return s, img
}

// fullShot saves a screenshot of the whole page (panel, overlays).
func (b *browser) fullShot(name string) {
	b.t.Helper()
	b.do(chromedp.Sleep(400 * time.Millisecond))
	buf, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.out, name+".png"), buf, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// setSelect chooses value in the select with that id as a user would (a change event).
func (b *browser) setSelect(id, value string) {
	b.t.Helper()
	got := b.evalString(fmt.Sprintf(`(function(){const s=document.getElementById(%q);s.value=%q;s.dispatchEvent(new Event('change'));return s.value})()`, id, value))
	if got != value {
		b.t.Fatalf("select %s has no option %q (value %q)", id, value, got)
	}
}

// drop dispatches a synthetic drop of a file built in the page from data.
func (b *browser) drop(name string, data []byte, typ string) {
	b.t.Helper()
	js := fmt.Sprintf(`(function(){
		const bytes = Uint8Array.from(atob(%q), c => c.charCodeAt(0));
		const dt = new DataTransfer();
		dt.items.add(new File([bytes], %q, {type: %q}));
		window.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
		return 'dropped';
	})()`, base64.StdEncoding.EncodeToString(data), name, typ)
	if got := b.eval(js); got != "dropped" {
		b.t.Fatalf("drop: %q", got)
	}
}

// coloredHalves counts the colored (overlay) pixels in the left and right halves of img.
func coloredHalves(img *image.RGBA) (left, right int) {
	b := img.Bounds()
	mid := b.Min.X + b.Dx()/2
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			i := img.PixOffset(x, y)
			r, g, bl := int(img.Pix[i]), int(img.Pix[i+1]), int(img.Pix[i+2])
			if abs(r-g)+abs(g-bl) > 2*25 {
				if x < mid {
					left++
				} else {
					right++
				}
			}
		}
	}
	return left, right
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
