package simulate

import (
	"fmt"
	"strings"
)

// readme returns SIMULATED.md for a dataset: what it is, how it was made
// and where its ground truth lies.
func readme(m Marker) string {
	var b strings.Builder
	masks := "synthetic layout (consecutive fsaverage index ranges with the label counts of the real left-hemisphere masks)"
	if m.Masks.Real {
		masks = "real Algonauts 2023 fsaverage-space masks from " + m.Masks.Dir
	}
	fmt.Fprintf(&b, `# SIMULATED DATA — not brain measurements

This directory is a **simulated** Natural Scenes Dataset written by cortexcast in the exact
Algonauts 2023 layout. No image was shown to anybody and no response was measured: images are
procedural drawings and responses come from the known generative model below.

- Seed %d, %d subject(s), %d training and %d test images each (generator version %d).
- Challenge vertices: %d (lh) / %d (rh), from the %s; RSC: %s.
- Ground truth: the sibling directory %s (never read by models).

## Images
425×425 RGB PNG scenes. Each has a main category drawn uniformly from face, body, place, word,
object, texture, then 0–3 clutter items of any kind. Places are backgrounds (a room in one-point
perspective, a street of buildings, a landscape with horizon); textures are gratings, checkerboards or
blocky noise (as backgrounds or patches); faces are frontal (hair, head, eyes, brows, nose, mouth);
bodies are standing figures; words are pseudo-words in a bitmap font; objects are balls, boxes, cups,
triangles and stars. NSD ids are distinct random ids in 0..72999, sorted within each split.

## Vertex layout
The challenge vertices are the fsaverage vertices with a streams label or in RSC. prf-visualrois and
streams are the input masks. Floc ROIs are not available as real masks, so each is a blob of a fixed
number of challenge vertices within the stream that holds it anatomically (ventral: FFA-1/2,
mTL/aTL-faces, FBA-1/2, mTL-bodies, PPA, VWFA-1/2, mfs-words, mTL-words; lateral: OFA, EBA;
parietal: OPA; midventral: OWFA), excluding visual-ROI vertices. Placement here: %s. "sphere": the
vertices nearest on the fsaverage sphere to a centre chosen by its rank fractions along the
posterior→anterior and medial→lateral axes within the stream; "index": the vertices nearest in
fsaverage-index order to the host vertex at a fixed rank fraction (scattered, not compact). The
table is flocBlobs in backend/simulate/layout.go. RSC is the RSC mask. Floc ROIs do not overlap.
All masks are int64; the all-vertices mask is 1 on challenge vertices and 0 elsewhere.

## Responses
For image i and vertex v the true response is

    true[i,v] = a_v · standardise_i( w_v0 · z(c_v(i)) + Σ_k w_vk · z(s_k(i)) )

- c_v(i): RMS contrast of the luminance in v's Gaussian population receptive field (the image spans
  8.4°; energy = within-pixel variance plus band-pass energy on a 64×64 map, zero outside the image).
- s_k(i): the category drive of category k (face, body, place, word, object, texture): per item
  (0.5 + 0.5·√(size/0.4))·(1 − 0.6·distance from centre), summed, plus 1 for a place and 0.8 for a
  texture background, capped at 1.5. z(·) standardises over all images of the subject.
- V1v..hV4: pRF eccentricity grows with the vertex's rank in its ROI (fsaverage-index order,
  0.4°·((1+6/0.4)^r − 1)), polar angle steps by the golden ratio within the contralateral upper
  (ventral ROIs) or lower (dorsal ROIs) quadrant, −30°..90° for hV4; σ = 0.2° + slope·eccentricity
  with slopes 0.12, 0.18, 0.25, 0.35 (V1, V2, V3, hV4). Weight 1 on contrast only (hV4: + object 0.15,
  face 0.1). Early-stream vertices outside these ROIs: the outer half of the eccentricity range, the
  whole contralateral hemifield, contrast only.
- Floc ROI vertices: weight 0.8–1.2 on their own category, a little on related ones, 0.3 on contrast of a
  large central pRF.
- Other stream vertices: contrast weights 0.7 (mid streams), 0.3 (ventral, lateral), 0.4 (parietal) and
  random category weights 0.5·|N(0,1)|·profile of the stream.
- Measured response (what the training fMRI holds) = true + N(0, σ_v²/r_i), the mean of r_i ∈ {1,2,3}
  repeats (P = 0.10, 0.15, 0.75); ncsnr_v = a_v/σ_v: V1–hV4 0.5–1.0, other early 0.4–0.8,
  floc 0.4–0.9, other streams 0.1–0.5; a_v in 0.6–1.4.

## Ground truth files (in %s/subjNN/)
{lh,rh}_train_true.npy, {lh,rh}_test_true.npy (noise-free responses, images × vertices, float32),
{lh,rh}_test_measured.npy (what the challenge withholds), {lh,rh}_ncsnr.npy, {lh,rh}_amplitude.npy,
{lh,rh}_noise_sd.npy, {lh,rh}_prf.npy (vertices × [x°, y°, σ°], x right, y up),
{lh,rh}_weights.npy (vertices × [contrast, face, body, place, word, object, texture]),
train_repeats.npy, test_repeats.npy (int64), labels.json (per image: content, items, category drive).
`, m.Seed, m.Subjects, m.Train, m.Test, m.Version, m.Vertices[0], m.Vertices[1], masks, m.Masks.RSC, m.Truth, m.Masks.Floc, m.Truth)
	return b.String()
}
