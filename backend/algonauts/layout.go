// Package algonauts reads and writes the Algonauts 2023 challenge layout of
// the Natural Scenes Dataset:
//
//	<root>/subjNN/training_split/training_images/train-0001_nsd-00013.png
//	<root>/subjNN/training_split/training_fmri/{lh,rh}_training_fmri.npy
//	<root>/subjNN/test_split/test_images/test-0001_nsd-00845.png
//	<root>/subjNN/roi_masks/{lh,rh}.<class>_{challenge,fsaverage}_space.npy
//	<root>/subjNN/roi_masks/{lh,rh}.all-vertices_fsaverage_space.npy
//	<root>/subjNN/roi_masks/mapping_<class>.npy
//
// The fMRI matrices are float32, training images × challenge vertices. The
// challenge vertices of a hemisphere are the fsaverage vertices (163,842 per
// hemisphere) where the all-vertices mask is nonzero, in ascending order.
// ROI masks hold one integer label per vertex, in challenge or fsaverage
// space; the mapping files are pickled Python dicts from label to ROI name,
// read here without executing anything.
//
// The path helpers are what the simulator uses to write the same layout;
// Open and Dataset read it.
package algonauts

import (
	"fmt"
	"path/filepath"
	"slices"
)

// Hemi names a cortical hemisphere: "lh" or "rh".
type Hemi string

// The two hemispheres.
const (
	LH Hemi = "lh"
	RH Hemi = "rh"
)

// Hemis returns both hemispheres in the project's order, left first.
func Hemis() [2]Hemi { return [2]Hemi{LH, RH} }

// valid reports whether h is LH or RH.
func (h Hemi) valid() bool { return h == LH || h == RH }

// FsaverageVertices is the number of vertices of one fsaverage hemisphere.
const FsaverageVertices = 163842

// Mask spaces.
const (
	SpaceChallenge = "challenge"
	SpaceFsaverage = "fsaverage"
)

// ROIClasses returns the ROI classes of the challenge, in the order the
// challenge documentation lists them.
func ROIClasses() []string {
	return []string{"prf-visualrois", "floc-bodies", "floc-faces", "floc-places", "floc-words", "streams"}
}

// DefaultMapping returns the label → ROI name table the Algonauts 2023
// mapping_<class>.npy files hold (label 0 is "Unknown"), for writing a
// dataset when no mapping file is at hand.
func DefaultMapping(class string) (map[int]string, error) {
	var names []string
	switch class {
	case "prf-visualrois":
		names = []string{"V1v", "V1d", "V2v", "V2d", "V3v", "V3d", "hV4"}
	case "floc-bodies":
		names = []string{"EBA", "FBA-1", "FBA-2", "mTL-bodies"}
	case "floc-faces":
		names = []string{"OFA", "FFA-1", "FFA-2", "mTL-faces", "aTL-faces"}
	case "floc-places":
		names = []string{"OPA", "PPA", "RSC"}
	case "floc-words":
		names = []string{"OWFA", "VWFA-1", "VWFA-2", "mfs-words", "mTL-words"}
	case "streams":
		names = []string{"early", "midventral", "midlateral", "midparietal", "ventral", "lateral", "parietal"}
	default:
		return nil, fmt.Errorf("algonauts: unknown ROI class %q (want one of %v)", class, ROIClasses())
	}
	m := map[int]string{0: "Unknown"}
	for i, n := range names {
		m[i+1] = n
	}
	return m, nil
}

func checkClass(class string) error {
	if !slices.Contains(ROIClasses(), class) {
		return fmt.Errorf("algonauts: unknown ROI class %q (want one of %v)", class, ROIClasses())
	}
	return nil
}

// SubjectDir returns <root>/subjNN.
func SubjectDir(root string, subj int) string {
	return filepath.Join(root, fmt.Sprintf("subj%02d", subj))
}

// TrainImageDir returns the directory of a subject's training images.
func TrainImageDir(root string, subj int) string {
	return filepath.Join(SubjectDir(root, subj), "training_split", "training_images")
}

// TestImageDir returns the directory of a subject's test images.
func TestImageDir(root string, subj int) string {
	return filepath.Join(SubjectDir(root, subj), "test_split", "test_images")
}

// FMRIDir returns the directory of a subject's training fMRI matrices.
func FMRIDir(root string, subj int) string {
	return filepath.Join(SubjectDir(root, subj), "training_split", "training_fmri")
}

// ROIMaskDir returns the directory of a subject's ROI masks and mappings.
func ROIMaskDir(root string, subj int) string {
	return filepath.Join(SubjectDir(root, subj), "roi_masks")
}

// TrainImagePath returns the path of training image index1 (1-based) with
// the given NSD id: .../train-0001_nsd-00013.png.
func TrainImagePath(root string, subj, index1, nsdID int) string {
	return filepath.Join(TrainImageDir(root, subj), fmt.Sprintf("train-%04d_nsd-%05d.png", index1, nsdID))
}

// TestImagePath returns the path of test image index1 (1-based) with the
// given NSD id: .../test-0001_nsd-00845.png.
func TestImagePath(root string, subj, index1, nsdID int) string {
	return filepath.Join(TestImageDir(root, subj), fmt.Sprintf("test-%04d_nsd-%05d.png", index1, nsdID))
}

// FMRIPath returns the path of a hemisphere's training fMRI matrix.
func FMRIPath(root string, subj int, h Hemi) string {
	return filepath.Join(FMRIDir(root, subj), string(h)+"_training_fmri.npy")
}

// MaskPath returns the path of an ROI mask; space is "challenge" or
// "fsaverage".
func MaskPath(root string, subj int, h Hemi, class, space string) string {
	return filepath.Join(ROIMaskDir(root, subj), fmt.Sprintf("%s.%s_%s_space.npy", h, class, space))
}

// AllVerticesMaskPath returns the path of the mask whose nonzero entries
// are the challenge vertices of a hemisphere.
func AllVerticesMaskPath(root string, subj int, h Hemi) string {
	return filepath.Join(ROIMaskDir(root, subj), string(h)+".all-vertices_fsaverage_space.npy")
}

// MappingPath returns the path of the label → name mapping of an ROI class.
func MappingPath(root string, subj int, class string) string {
	return filepath.Join(ROIMaskDir(root, subj), "mapping_"+class+".npy")
}

// SubmissionPath returns where a challenge submission puts a subject's
// predictions for one hemisphere: <root>/subjNN/{lh,rh}_pred_test.npy.
func SubmissionPath(root string, subj int, h Hemi) string {
	return filepath.Join(SubjectDir(root, subj), string(h)+"_pred_test.npy")
}
