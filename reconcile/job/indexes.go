package job

import (
	"slices"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// isIndexed reports whether job's completionMode is Indexed.
func isIndexed(job *batchv1.Job) bool {
	return job.Spec.CompletionMode != nil && *job.Spec.CompletionMode == batchv1.IndexedCompletion
}

// podIndex returns the completion index of an Indexed Job's pod, from its
// annotation (or its label), and whether it has a valid one.
func podIndex(pod *corev1.Pod) (int32, bool) {
	v, ok := pod.Annotations[batchv1.JobCompletionIndexAnnotation]
	if !ok {
		v, ok = pod.Labels[batchv1.JobCompletionIndexAnnotation]
	}
	if !ok {
		return 0, false
	}
	i, err := strconv.ParseInt(v, 10, 32)
	if err != nil || i < 0 {
		return 0, false
	}
	return int32(i), true
}

// parseIndexes reads status.completedIndexes ("1,3-5,7"), keeping the
// indexes below limit; malformed parts are skipped, as Kubernetes does.
func parseIndexes(s string, limit int32) map[int32]bool {
	out := map[int32]bool{}
	for part := range strings.SplitSeq(s, ",") {
		first, last, isRange := strings.Cut(part, "-")
		lo, err := strconv.ParseInt(first, 10, 32)
		if err != nil {
			continue
		}
		hi := lo
		if isRange {
			if hi, err = strconv.ParseInt(last, 10, 32); err != nil || hi < lo {
				continue
			}
		}
		for i := int32(lo); i <= int32(hi) && i < limit; i++ {
			out[i] = true
		}
	}
	return out
}

// formatIndexes writes a set of indexes as Kubernetes' completedIndexes:
// ascending, consecutive runs of more than one as "first-last".
func formatIndexes(set map[int32]bool) string {
	idx := make([]int32, 0, len(set))
	for i := range set {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	var b strings.Builder
	for k := 0; k < len(idx); {
		j := k
		for j+1 < len(idx) && idx[j+1] == idx[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(idx[k])))
		if j > k {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(int(idx[j])))
		}
		k = j + 1
	}
	return b.String()
}
