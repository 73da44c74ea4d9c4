#!/usr/bin/env bash
# Writes benches/accuracy.md: recall and precision per edit type of the pHash baseline and of
# panelscope (the default classical embedder, then the learned one), scored in the same run on a
# fresh synthetic catalog.
#   bash benches/accuracy.sh [SEED] [DOCS]
# Verification was tuned on seed 7. The default seed (11) stayed unseen until the verification
# rule of 2026-11-23 (matched intensities with a rank-correlation floor), which was chosen on seed 7
# with seed 11's numbers in view; that day's segmentation rules (pale membranes, labels, panel
# letters, row labels) were found from failures on seeds 7 and 13. Seed 17 was untouched when
# they landed: `bash benches/accuracy.sh 17` is the honest check of them for the classical
# embedder. The verification rules of 2026-11-24 (a mark in one place left out, sub-pixel
# registration of near misses) and the splitting of letter-parted parts were found from
# failures on seeds 7, 11 and 13 and checked once on 17, whose wrong matches were then looked
# at; the joining of lanes came from seed 19's wrong matches. The dark-floor rank rule of
# 2026-12-03 came from failures on seeds 11, 17, 19 and 23 and was checked once on 29; that
# day's seam splitting (hairlines, butt seams, mostly-ink panels) and outlined-bar uniformity came
# from seeds 7, 13, 17, 19 and 23 and were checked on 11 and 29, then once on 31; the joining
# of bands on a pale membrane came from seed 31's wrong matches. The window queries of
# 2026-12-04 were sized on crops of real blots (`cargo bench --bench crop_windows`), checked on
# seeds 7, 11, 13 and 17, then once on 37 and 41, whose crop misses were looked at afterwards
# (nothing was changed for them), and once on the unseen seed 43 (classical recall 0.482 -> 0.500,
# precision 0.902 -> 0.905). The verification changes of 2026-12-04 (whole panels also compared
# without a thin border, a small turn measured against the unturned centre, the three best
# alignments judged) and the splitting of what solid pieces leave came from failures on seeds 7,
# 11, 13, 17, 37 and 41 and were checked once on the unseen seed 44 (classical recall 0.614 ->
# 0.632, precision 0.959 -> 0.960). The tiles rule of that day (close images are one picture only
# when they overlap or share a whole edge) came from seed 41's segmentation misses, was checked on
# seeds 7, 11, 13, 17 and 37, and once on the unseen seed 45 (with all of that day's changes,
# classical recall 0.570 -> 0.649, precision 0.942 -> 0.949). The later changes of 2026-12-04
# (whole-panel candidates from cosine 0.86, tiles only within 0.3 pt, thin strip images keeping
# their pixels, no texture evidence from a small region against one over twice its size) came
# from failures on seeds 7, 11, 13, 17, 37 and 41 and were checked once on the unseen seed 46
# (classical recall 0.632 -> 0.675, precision 0.960 -> 0.939, with the threshold then at 0.84);
# seed 46 then served one rejected experiment, and the threshold went to 0.86 for speed (three
# times fewer candidates than 0.84 on a 300-paper catalog; seed 46: 0.667 / 0.938). The unseen
# seed 47 then gave 0.667 / 0.975 both before and after that day's changes, and refused a lower
# detail_needs_texture_below (0.96: same recall, precision 0.963) that six seen seeds had liked.
# The strong-correlation rule of 2026-12-04 (a pair correlating 0.98 or more verifies on detail
# from 0.95 when its grain is gone) was chosen from the verification stats of every candidate on
# seeds 7, 11, 13, 17, 37 and 41 (planted pairs against planted look-alikes and other pairs),
# checked on 46 and 47, and once on the unseen seeds 48 and 49 (classical 0.719 / 0.921 and
# 0.640 / 0.924, the same before and after). The frame trimming of 2026-12-04 (panels) was
# written from two missed pairs of seeds 7 and 17, measured on seeds 7–49 and once on the unseen
# seeds 50–53 (+1, +1, 0, 0 planted pairs; precision 0.907 -> 0.908, 0.938 -> 0.950, the same,
# the same). The query tilts of 2026-12-04 (three degrees either way; two and four degrees either
# way found no more for the classical descriptor, one more for the learned one) were chosen on seeds 13, 17, 37, 41 and 46 (classical 0.686 / 0.951 -> 0.693 / 0.952
# pooled, small rotation 18 -> 22 of 33 pairs) and checked once on the unseen seed 57 (no change:
# classical 0.667 / 0.916, learned 0.640 / 0.901). The splitting rules of 2026-12-04's second
# session (gutters rung by a JPEG between panels cropped tight; pictures butted in an L) came from
# segmentation misses on seeds 13, 17, 37, 41 and 46 (pooled 395 -> 398 of 570 pairs, precision
# 0.952 both), and were checked on 57 (no change) and once on the unseen seed 58 (classical
# 0.614 / 0.875 -> 0.632 / 0.878). The uniformity rules of that session (a panel changing along
# one axis only, a thin outlined bar flat inside) came from the two verified matches on the real
# papers of ../shared/data/pdfs-bio; they change nothing on seeds 13, 17, 37, 41, 46 and 58. The
# rules of 2026-12-05 (panel classes and repeated drawn graphics kept out of the stream, paper
# edges shed from crops, edited copies that share their grain, thumbnails from the store compared
# like with like) came from the real PDFs and the real hand-edited blots of ../shared/data; they
# change nothing on seeds 13, 17, 37, 41 and 46 (398 of 570 pairs, precision 0.952) and were
# checked once on the unseen seed 60 (0.667 / 0.975 before and after). The rules of 2026-12-05's
# second session (a flipped or turned copy may differ in two corners, each copy's own letter;
# colour on grainless paper is a drawing; small turns screened before they are compared in full)
# came from seeds 13, 17, 37, 41 and 46 (401 of 570 pairs, precision 0.953) and the real PDFs,
# were checked on 60 (76 -> 77 of 114, precision 0.975 both), and once on the unseen seed 61
# (0.658 / 0.974 before and after). The classical descriptor's soft ranks of 2026-12-05's third
# session (levels within 4% of the range rank alike) came from an exact copy missed on a
# 1500-paper seed-5 catalog; on seeds 13, 17, 37, 41 and 46 they find 404 of 570 pairs against
# 401 (precision 0.953 both; on procedural-only catalogs of those seeds 394 against 393, and with
# 8% and 10% of the range 393 and 391, at a lower precision), and once on the unseen seed 62,
# 83 of 114 both (precision 0.912 against 0.922). The rank test without dark floors for strong
# pairs whose grain a heavy JPEG took (same session) came from JPEG misses on those five seeds
# (404 -> 406 of 570, precision 0.953 both) and was checked once on the unseen seed 63 (78 -> 79
# of 114, precision 0.867 -> 0.868). The marker labels shed beside strips (2026-12-05, fourth
# session) came from seeds 13, 17, 37, 41 and 46 (406 -> 408 of 570) and were checked once on 64
# (81 of 114 before and after). On 2026-12-05's fifth session, the share a mark may hold weighed
# with capped deviations (a white letter on a faint picture) and the nearest whole neighbour
# verified from cosine 0.5 came from those five seeds (408 -> 412 -> 422 of 570, precision 0.953
# -> 0.955; two nearest neighbours: 424, at twice the verification time) and were checked once on
# the unseen seed 65 (83 -> 86 of 114, precision 0.912 -> 0.915, crops 1 -> 3 of 7). Matches
# of drawn tables on the real PDFs then limited both: the cap only weighs pictures textured all
# over, and two drawings are not each other's nearest candidates (five seeds: 420 of 570,
# precision 0.955), and the final rules were checked once on the unseen seed 66 (72 -> 75 of
# 114, precision 0.911 -> 0.915, crops 4 -> 5 of 7). The edited-copy rules of 2026-12-05's sixth
# session (intensities matched outside where the two differ most, no whole-correlation floor for
# pictures textured all over, panels of one shape also judged laid whole) came from the real
# hand-edited blots of ../shared/data (the section at the end); on seeds 13, 17, 37, 41 and 46
# they find 421 of 570 pairs against 420 (precision 0.955 both). On the unseen seed 67 a lower
# bar outside the changed regions (0.9 instead of min_correlation) verified one look-alike gel of
# the same lane layout, so it was dropped (84 of 114, precision 0.933, before and after). The
# final rules were checked once on the unseen seed 68 (74 of 114, precision 0.892, before and
# after). The partial overlaps of 2026-12-05's seventh session (keypoints lay a part of one
# picture on a part of another) came from the real polimi crops cut from one blot
# (`cargo bench --bench real_pairs`), and their guards (a grain bar, drawings and overlaps in
# place left out) from the wrong matches they made on seeds 13, 17, 37, 41 and 46 and on the
# real PDFs; on those seeds they find 423 of 570 pairs against 421 (precision 0.955 both), and
# they were checked once on the unseen seed 69 (83 of 114, precision 0.903, before and after).
# The search for a part repeated within one blot or gel (2026-12-05, eighth session) came from
# real polimi crops with a part pasted within them, and its guards (grain controls, blots and gels
# only, parts textured all over) from the wrong repeats it found on seeds 13, 17, 37, 41, 46 and
# 70 (charts taken for micrographs or blots); with them those seeds are as they were (423 of 570
# at 0.955; seed 70: 82 of 114
# at 0.943). The search for a part shared by two blots or gels of a document (2026-12-05, ninth
# session: phase correlation at one scale) came from real polimi crops with a strip of another
# pasted in, and its guards (a grain lead over the controls, sharp-stepped parts refused as
# drawn, panels over one place left out) from the scale bars and labels it found on seeds 13 and
# 17 and a doubly detected panel on seed 37; on seeds 13, 17, 37, 41 and 46 it finds 426 of 570
# against 423 (three splices; precision 0.955 both), seed 70 is as it was, and it was checked
# once on the unseen seed 71 (81 of 114, precision 0.844, before and after). The coarse-detail
# rule of 2026-12-06 (two whole panels correlating from 0.98 verify on their band outlines from
# 0.985, which a heavy JPEG keeps) came from JPEG copies of the real blots of ../shared/data and
# the unverified pairs of seeds 13, 17, 37, 41, 46, 70 and 71 (428 -> 433 of 570 at 0.956; 70
# and 71: 163 -> 167 of 228, precision 0.931 -> 0.933); that day's noisy dark floor left out of
# the rank test came from seed 37 (433 -> 434). Both were checked once on the unseen seed 72 (76
# of 114, precision 0.835, before and after: its wrong matches are the lanes of one smeared blot
# cut apart). Those lanes gave that day's rule that an upright piece thinner than a panel is a
# strip only when three times taller than wide (seed 72: precision 0.835 -> 0.974; seeds 13-71
# unchanged), checked once, with the two rules before it, on the unseen seed 73 (81 of 114,
# precision 0.931, before and after). That day's exact-dark gutters on dark backgrounds came
# from a fluorescent blot cut into lane groups on seed 46 (seeds 13-46: 434 -> 435 of 570;
# 70-73 unchanged) and were checked once on the unseen seed 74 (79 of 114 before and after,
# precision 0.920 -> 0.919). The pale floor left out of the rank test of two whole panels that
# agree strongly (2026-12-06, second session) came from three stained sections missed on seeds
# 13 and 37 (435 -> 438 of 570, precision 0.956 -> 0.957), and that session's panel letters
# looked for just above a panel and left of its trimmed edge from an exact copy butted to its
# source on seed 13 (438 -> 439); both were checked once on the unseen seed 75 (84 of 114,
# precision 0.944, before and after). That session's indexed windows (nine of nine tenths of each
# panel held in the index, so that a crop indexed after its panel reaches it) came from the crop
# misses of seeds 13, 17, 37, 41 and 46 (439 -> 443 of 570, precision 0.957 both; nine of 0.8:
# 442; the 36 query windows: 447 at 2.4 times the ingest time) and were checked once on the
# unseen seed 76 (72 of 114, precision 0.960, before and after). On 2026-12-06's third session,
# a filled box of a diagram taken as a solid piece was made a piece of its diagram (a diagram
# lost on seed 17), and a corner cell of a picture was held to half the mark edge share (a
# lettered, framed micrograph on seed 37; seeds 13-46: 443 -> 445 of 570, precision 0.957 both;
# lowering the share everywhere instead verified two look-alikes); both were checked once on the
# unseen seed 77 (85 of 114, precision 0.966, before and after). A flat picture's weights in the
# share a mark leaves, capped at its strongest content inside its borders (white letters on a
# dim micrograph on seed 17; 445 -> 446 of 570, precision 0.957 both), was checked once on the
# unseen seed 78 (85 of 114, precision 0.895, before and after). Seed 77's misses had also given
# a rule holding every cell within a quarter of the grid from a corner to 0.3 of the share (bold
# letters; 77: 85 -> 86), which lost a lettered, framed section on seed 78 (85 -> 84) and was
# dropped. On 2026-12-06's fourth session, a figure of one picture on a dark background was
# made that picture whole, its dark margins kept (a gel trimmed to its bands on seeds 41, 46
# and 13 would not align with its copy; seeds 13-46: 446 -> 450 of 570, precision 0.957 ->
# 0.958), and checked once on the unseen seed 79 (82 of 114, precision 0.921, before and after;
# 77: 85 -> 87, 78: 85 both). Trimming page-white margins off every panel lost 13 pairs on
# seeds 13-46 (a contrast or JPEG copy's white is no longer page white) and was dropped; shedding
# them only past a sharp edge of the picture (a picture shorter than its slot in a gutterless
# figure, on seed 13) kept what was won (450 -> 451 of 570, precision 0.958 -> 0.960; 77, 78 and
# 79 unchanged). Both rules together were checked once on the unseen seed 80 (81 -> 82 of 114,
# precision 0.988 both). On 2026-12-06's ninth session, hairlines between pictures of unequal
# heights measured where the pictures are, one edge partly hidden by a white panel letter, and a
# frame before a hairline came from seed 72's misses (a row of six butted blots and gels; 79 ->
# 83 of 114, precision 0.964 -> 0.966); seeds 13-46 went 456 -> 457 of 570 (precision 0.958
# both), seed 11 stayed at 0.798 / 0.968, and the unseen seed 81 went 89 -> 90 of 114
# (precision 0.937 -> 0.938). On 2026-12-07 (tenth session), a part two pictures share to
# their detail was held to the partial grain floor (seed 11: 91 -> 93 of 114, seed 37: 90 -> 91)
# and checked once on the unseen seed 82 (89 of 114, precision 0.937, before and after). On
# 2026-12-07's eleventh session, two whole panels alike to their detail and coarse detail from
# 0.985 were let past the rank floor (a pale micrograph's exact copy on seed 72: 83 -> 84 of 114;
# seed 82: 89 -> 90; seeds 11-46 unchanged) and checked once on the unseen seed 83 (93 of 114,
# precision 0.913, before and after). The index of parts of 2026-12-07's twelfth session (blots'
# corners at their own resolution, proposing earlier papers' pictures met at one shift) was
# built from seed 11's cross-document splices, checked on seeds 13, 17, 37, 41, 46 and 72 and on
# the real PDFs, and once on the unseen seed 84 (92 of 114, precision 0.958, with and without
# it). On 2026-12-07's thirteenth session, pieces of one picture that are all drawn were made one
# panel, or one per panel letter drawn above them (diagrams cut into their boxes on seeds 13, 17
# and 72 matched box to box; seeds 11, 13, 17, 37, 41, 46, 72 and 85: 723 of 912 pairs before
# and after, precision up on 13, 17 and 72), and checked once on the unseen seed 86 (87 of 114,
# precision 0.946, before and after). A drawing placed as an image of its own made that whole
# image (sparse diagrams found as their strokes on seeds 17, 41 and 86 scored against the placed
# image; nine seeds 810 -> 813 of 1026) and was checked once on the unseen seed 87 (84 -> 85 of
# 114, precision 0.966 both). On 2026-12-07's fourteenth session, drawings a quarter the size of
# the photographs beside them, thin picture strips and framed grids with paper around them were
# made panels from misses on seeds 11, 85 and 86 (none on seed 17 in the end; 13, 37, 41, 46 and 72
# unchanged), and checked once on the unseen seed 88 (90 -> 91 of 114, precision 0.989 both). On
# 2026-12-07's fifteenth session, a chart butted to a lone photograph, charts around a photograph
# in an L, a chart cut at a gap only its axis crosses, a band on its membrane's grey and a frame
# around a flat dark ground were fixed from misses on seeds 85, 86 and 72 (41 and 13 lost a pair
# on the way, won back), and checked once on the unseen seed 89 (73 -> 77 of 114, precision
# 0.974 -> 0.975). On 2026-12-07's sixteenth session, pictures butted in an L on paper and charts
# framed one by one were parted from misses on seeds 46, 72 and 89 (a blot's bands joined by haze
# and a diagram's boxes, split by the first cuts on seeds 17 and 46, were kept whole by the
# fade-in and drawn guards), and checked once on the unseen seed 90 (86 of 114 before and after,
# precision 0.918 both, scored with the new part rule). On 2026-12-07's seventeenth session, the
# search of cuts between butted pictures (along seams, across a step's corner, pale blots on
# their faint marks) came from misses on seeds 85 and 72 and wrong cuts on seeds 17 and 72
# (a diagram's boxes parted at their arrows), and was checked once on the unseen seed 91 (89 of
# 114 before and after, precision 0.967 both). On 2026-12-08, two whole drawings verified on
# their coarse detail without grain came from charts missed on seeds 11, 37, 41 and 46 (their
# look-alikes on ten dev seeds reached 0.979 of the 0.985 asked), and were checked once on the
# unseen seed 92 (82 -> 83 of 114, precision 0.955 both). Later on 2026-12-08, near misses of
# two pictures whose grain was lost are registered to a fraction of a pixel and held to coarse
# detail from 0.995 (ten dev seeds 919 -> 926 of 1140, easy edits 529 -> 534 of 606); seed 93
# was looked at while it was written (its first form verified two boxes lettered "Nucleus"),
# and the unseen seed 94 checked it once (80 -> 83 of 114, precision 0.964 -> 0.966). No seed
# below 95 is unseen (59 was never run): pass 95 or more for an honest check. (The
# learned embedder's training holds out the real images of seeds 7 and 11 only, so
# its row is fair on those two seeds alone.)
set -euo pipefail
cd "$(dirname "$0")/.."
seed="${1:-11}"
docs="${2:-200}"
# Taken before this run rewrites benches/accuracy.md, which would mark the tree dirty.
revision="$(git describe --always --dirty)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cargo build --release --locked --quiet
bin=./target/release/panelscope
real=()
[ -d ../shared/data ] || real=(--real-images "")
"$bin" synth --out "$work/catalog" --docs "$docs" --seed "$seed" "${real[@]}"
"$bin" --data-dir "$work/data" ingest "$work/catalog" > "$work/ingest.txt"
"$bin" --data-dir "$work/data" eval --truth "$work/catalog/truth.json" --markdown "$work/table.md" > "$work/eval.txt"
# The learned embedder on the same catalog. Its cosines sit lower than the classical descriptor's:
# for the model of 2026-12-04 (4753 steps), 0.70 is where, on the dev catalog (seed 7), recall
# stopped growing (0.675 at 0.80 and 0.75, 0.693 at 0.70 and 0.65) at the same precision.
printf '[embed]\nmodel = "learned"\n[index]\nmin_similarity = 0.70\n' > "$work/learned.toml"
"$bin" --config "$work/learned.toml" --data-dir "$work/data-learned" ingest "$work/catalog" > "$work/ingest-learned.txt"
"$bin" --config "$work/learned.toml" --data-dir "$work/data-learned" eval --truth "$work/catalog/truth.json" --markdown "$work/table-learned.md" > /dev/null
# Real duplicates made by people, through the whole job (tests/real_duplicates.rs).
real_pairs="(../shared/data is absent: not measured)"
if [ -d ../shared/data ]; then
  real_pairs="$(cargo test --release --locked --quiet --test real_duplicates -- --nocapture --test-threads=1 2>&1 | grep -oE '(pairs of hand edits|matches joining).*')"
fi
{
  echo "# Accuracy on a synthetic catalog"
  echo
  echo "Produced by \`bash benches/accuracy.sh $seed $docs\` on $(date -u +%Y-%m-%d) ($revision)."
  echo "Catalog: \`panelscope synth --docs $docs --seed $seed\`$([ ${#real[@]} -eq 0 ] && echo ' with real blots and figures from ../shared/data' || echo ', procedural panels only')."
  echo "Rows: recall over the planted pairs of each edit; precision over the found matches that touch"
  echo "a region of such a pair (overall and per kind: over all found matches). \`phash<=10\`: panels whose"
  echo "64-bit pHashes differ in at most 10 bits. \`panelscope\`: verified matches of the default"
  echo "(classical) embedder. A match counts when both regions overlap the planted ones (IoU >= 0.5, or"
  echo "centre containment at areas within 4x); one of two parts inside a planted pair's sides, where the"
  echo "pair's edits carry one onto the other, is correct but does not find the pair."
  echo
  cat "$work/table.md"
  echo
  echo "Ingest of the catalog:"
  echo
  echo '```'
  cat "$work/ingest.txt"
  echo '```'
  echo
  echo "## The learned embedder on the same catalog"
  echo
  echo "\`[embed] model = \"learned\"\` (models/weights/panelscope-embed-small.safetensors) with"
  echo "\`[index] min_similarity = 0.70\` (chosen on the dev catalog, seed 7); verification unchanged."
  echo "The pHash columns repeat the baseline."
  echo
  cat "$work/table-learned.md"
  echo
  echo "Ingest of the catalog with it:"
  echo
  echo '```'
  cat "$work/ingest-learned.txt"
  echo '```'
  echo
  echo "## Real hand-edited blots"
  echo
  echo "The polimi crops of ../shared/data that are two hand edits of one real crop (bands erased"
  echo "with Cleanup, retouched or painted in GIMP), one per page in PDFs written by"
  echo "\`tests/real_duplicates.rs\`, through \`ingest\` and \`matches --verified\` with the default"
  echo "settings; a match joining crops of two different blots would fail the test."
  echo
  echo '```'
  echo "$real_pairs"
  echo '```'
} > benches/accuracy.md
cat "$work/eval.txt"
echo "wrote benches/accuracy.md"
