package server

import (
	"context"
	"fmt"
	"image"
	"time"
)

// batchReq is one decoded image waiting for the batcher.
type batchReq struct {
	ctx     context.Context
	subject int
	model   string // the stored model to predict with; "": the served one
	img     image.Image
	out     chan batchResult // capacity 1
}

type batchResult struct {
	maps [2][]float32
	err  error
}

// batcher is the one goroutine that runs feature extraction and prediction: it collects the
// requests of all viewers for up to wait after the first one (or until size are there) and
// predicts them in one call, so that the extractor works on batches under load.
type batcher struct {
	in      chan *batchReq
	fn      ModelPredictor
	size    int
	wait    time.Duration
	timeout time.Duration
	m       *metricsSet
}

// loopPredictor turns a one-image Predictor into a BatchPredictor.
func loopPredictor(p Predictor) BatchPredictor {
	return func(ctx context.Context, subjects []int, imgs []image.Image) ([][2][]float32, error) {
		out := make([][2][]float32, len(imgs))
		for i, img := range imgs {
			m, err := p(ctx, subjects[i], img)
			if err != nil {
				return nil, err
			}
			out[i] = m
		}
		return out, nil
	}
}

// predict queues one image and waits for its maps or for ctx.
func (b *batcher) predict(ctx context.Context, subject int, model string, img image.Image) ([2][]float32, error) {
	r := &batchReq{ctx: ctx, subject: subject, model: model, img: img, out: make(chan batchResult, 1)}
	b.m.queue.Inc() // before the send, so that the batcher's Dec never comes first
	select {
	case b.in <- r:
	case <-ctx.Done():
		b.m.queue.Dec()
		return [2][]float32{}, ctx.Err()
	}
	select {
	case res := <-r.out:
		return res.maps, res.err
	case <-ctx.Done():
		return [2][]float32{}, ctx.Err()
	}
}

func (b *batcher) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		var reqs []*batchReq
		select {
		case <-ctx.Done():
			return
		case r := <-b.in:
			b.m.queue.Dec()
			reqs = append(reqs, r)
		}
		timer.Reset(b.wait)
	collect:
		for len(reqs) < b.size {
			select {
			case r := <-b.in:
				b.m.queue.Dec()
				reqs = append(reqs, r)
			case <-timer.C:
				break collect
			case <-ctx.Done():
				timer.Stop()
				return
			}
		}
		timer.Stop()
		b.runBatch(ctx, reqs)
	}
}

// runBatch predicts the requests whose viewers still wait (a viewer that left or was
// superseded has a cancelled context) in one call.
func (b *batcher) runBatch(ctx context.Context, reqs []*batchReq) {
	live := reqs[:0]
	for _, r := range reqs {
		if err := r.ctx.Err(); err != nil {
			r.out <- batchResult{err: err}
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	b.m.batchSize.Observe(float64(len(live)))
	bctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	// One call per model, in order of first appearance, so that a bad model fails only the
	// requests that named it.
	var models []string
	byModel := map[string][]*batchReq{}
	for _, r := range live {
		if _, ok := byModel[r.model]; !ok {
			models = append(models, r.model)
		}
		byModel[r.model] = append(byModel[r.model], r)
	}
	for _, model := range models {
		group := byModel[model]
		subjects := make([]int, len(group))
		imgs := make([]image.Image, len(group))
		for i, r := range group {
			subjects[i], imgs[i] = r.subject, r.img
		}
		out, err := b.fn(bctx, model, subjects, imgs)
		if err == nil && len(out) != len(group) {
			err = fmt.Errorf("predictor returned %d results for %d images", len(out), len(group))
		}
		for i, r := range group {
			if err != nil {
				r.out <- batchResult{err: err}
				continue
			}
			r.out <- batchResult{maps: out[i]}
		}
	}
}
