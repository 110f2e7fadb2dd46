;; WebAssembly SIMD (f32x4) kernels of the CPU merge path. They work on tiles that the JS side
;; (src/core/simd/tiles.ts) copies into this module's memory: pointers are byte addresses, 16-byte
;; aligned, and `n` counts elements, a multiple of 8 (tiles are zero-padded to it). Every kernel
;; has a scalar JS twin (jsKernels in tiles.ts) doing the same float32 operations in the same
;; order, so both give bit-identical results; the *_bf16 variants, which read BF16 tiles as stored
;; and decode in registers, have none (without them the tiles are decoded first: same values).
;; Compiled by `node tools/gen-wasm.mjs`.
(module
  (memory (export "memory") 1)

  ;; ---- bfloat16 <-> float32 ----

  ;; f32 bits = bf16 << 16: eight bf16 per load, each into the upper half of a lane.
  (func (export "decode_bf16") (param $src i32) (param $dst i32) (param $n i32)
    (local $end i32) (local $v v128)
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 1))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $v (v128.load (local.get $src)))
        (v128.store (local.get $dst)
          (i8x16.shuffle 0 0 16 17 0 0 18 19 0 0 20 21 0 0 22 23 (v128.const i32x4 0 0 0 0) (local.get $v)))
        (v128.store offset=16 (local.get $dst)
          (i8x16.shuffle 0 0 24 25 0 0 26 27 0 0 28 29 0 0 30 31 (v128.const i32x4 0 0 0 0) (local.get $v)))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
        (br $next))))

  ;; Round to nearest even on the bits (add 0x7fff plus the lowest kept bit; carries move into the
  ;; exponent); NaN is quieted (bit 22 set) instead, so no carry can turn it into infinity. The
  ;; rounding is written out twice below (V8 does not inline wasm calls here).
  (func (export "encode_bf16") (param $src i32) (param $dst i32) (param $n i32)
    (local $end i32) (local $u v128) (local $r0 v128)
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 1))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
        (local.set $u (v128.load (local.get $src)))
        (local.set $r0
          (v128.bitselect
            (v128.or (local.get $u) (v128.const i32x4 0x400000 0x400000 0x400000 0x400000))
            (i32x4.add (local.get $u)
              (i32x4.add (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff)
                (v128.and (i32x4.shr_u (local.get $u) (i32.const 16)) (v128.const i32x4 1 1 1 1))))
            (i32x4.gt_s
              (v128.and (local.get $u) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))
              (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000))))
        (local.set $u (v128.load offset=16 (local.get $src)))
        (v128.store (local.get $dst)
          (i8x16.shuffle 2 3 6 7 10 11 14 15 18 19 22 23 26 27 30 31
            (local.get $r0)
            (v128.bitselect
              (v128.or (local.get $u) (v128.const i32x4 0x400000 0x400000 0x400000 0x400000))
              (i32x4.add (local.get $u)
                (i32x4.add (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff)
                  (v128.and (i32x4.shr_u (local.get $u) (i32.const 16)) (v128.const i32x4 1 1 1 1))))
              (i32x4.gt_s
                (v128.and (local.get $u) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))
                (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000)))))
        (local.set $src (i32.add (local.get $src) (i32.const 32)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
        (br $next))))

  ;; ---- weighted sums (linear, task arithmetic) ----

  ;; dst = c * x
  (func (export "scale") (param $dst i32) (param $x i32) (param $c f32) (param $n i32)
    (local $end i32) (local $vc v128)
    (local.set $vc (f32x4.splat (local.get $c)))
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
        (v128.store (local.get $dst) (f32x4.mul (local.get $vc) (v128.load (local.get $x))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
        (br $next))))

  ;; dst = dst + c * x
  (func (export "axpy") (param $dst i32) (param $x i32) (param $c f32) (param $n i32)
    (local $end i32) (local $vc v128)
    (local.set $vc (f32x4.splat (local.get $c)))
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
        (v128.store (local.get $dst)
          (f32x4.add (v128.load (local.get $dst)) (f32x4.mul (local.get $vc) (v128.load (local.get $x)))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
        (br $next))))

  ;; Three-term weighted sum in one pass: dst = (a*ca + b*cb) + c*cc
  (func (export "sum3") (param $dst i32) (param $a i32) (param $b i32) (param $c i32) (param $ca f32) (param $cb f32) (param $cc f32) (param $n i32)
    (local $end i32) (local $va v128) (local $vb v128) (local $vc v128)
    (local.set $va (f32x4.splat (local.get $ca)))
    (local.set $vb (f32x4.splat (local.get $cb)))
    (local.set $vc (f32x4.splat (local.get $cc)))
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
        (v128.store (local.get $dst)
          (f32x4.add
            (f32x4.add (f32x4.mul (local.get $va) (v128.load (local.get $a))) (f32x4.mul (local.get $vb) (v128.load (local.get $b))))
            (f32x4.mul (local.get $vc) (v128.load (local.get $c)))))
        (local.set $a (i32.add (local.get $a) (i32.const 16)))
        (local.set $b (i32.add (local.get $b) (i32.const 16)))
        (local.set $c (i32.add (local.get $c) (i32.const 16)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
        (br $next))))

  ;; Task arithmetic of three models in one pass, the same operations in the same order as three
  ;; subtract, sum3 and add_scaled_to_base with k = 1: out = base + ((ca*(a-base) + cb*(b-base)) + cc*(c-base)).
  (func (export "task3") (param $out i32) (param $base i32) (param $a i32) (param $b i32) (param $c i32) (param $ca f32) (param $cb f32) (param $cc f32) (param $n i32)
    (local $end i32) (local $va v128) (local $vb v128) (local $vc v128) (local $x v128)
    (local.set $va (f32x4.splat (local.get $ca)))
    (local.set $vb (f32x4.splat (local.get $cb)))
    (local.set $vc (f32x4.splat (local.get $cc)))
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
        (local.set $x (v128.load (local.get $base)))
        (v128.store (local.get $out)
          (f32x4.add (local.get $x)
            (f32x4.add
              (f32x4.add
                (f32x4.mul (local.get $va) (f32x4.sub (v128.load (local.get $a)) (local.get $x)))
                (f32x4.mul (local.get $vb) (f32x4.sub (v128.load (local.get $b)) (local.get $x))))
              (f32x4.mul (local.get $vc) (f32x4.sub (v128.load (local.get $c)) (local.get $x))))))
        (local.set $a (i32.add (local.get $a) (i32.const 16)))
        (local.set $b (i32.add (local.get $b) (i32.const 16)))
        (local.set $c (i32.add (local.get $c) (i32.const 16)))
        (local.set $base (i32.add (local.get $base) (i32.const 16)))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))
        (br $next))))

  ;; Task vector in place: x = x - base
  (func (export "subtract") (param $x i32) (param $base i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (v128.store (local.get $x) (f32x4.sub (v128.load (local.get $x)) (v128.load (local.get $base))))
        (local.set $base (i32.add (local.get $base) (i32.const 16)))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (br $next))))

  ;; dst = base + dst * k
  (func (export "add_scaled_to_base") (param $dst i32) (param $base i32) (param $k f32) (param $n i32)
    (local $end i32) (local $vk v128)
    (local.set $vk (f32x4.splat (local.get $k)))
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
        (v128.store (local.get $dst)
          (f32x4.add (v128.load (local.get $base)) (f32x4.mul (v128.load (local.get $dst)) (local.get $vk))))
        (local.set $base (i32.add (local.get $base) (i32.const 16)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
        (br $next))))

  ;; ---- TIES sign election and disjoint mean ----

  ;; Adds the entries of c*x that agree with the elected sign (vote < 0 elects "-", else "+"; a
  ;; zero entry agrees with neither) to `mixed`, and their weight w to `divisor`.
  (func (export "elect_accumulate") (param $mixed i32) (param $divisor i32) (param $vote i32) (param $x i32) (param $c f32) (param $w f32) (param $n i32)
    (local $end i32) (local $vc v128) (local $vw v128) (local $t v128) (local $agree v128)
    (local.set $vc (f32x4.splat (local.get $c)))
    (local.set $vw (f32x4.splat (local.get $w)))
    (local.set $end (i32.add (local.get $mixed) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $mixed) (local.get $end)))
        (local.set $t (f32x4.mul (local.get $vc) (v128.load (local.get $x))))
        (local.set $agree
          (v128.bitselect
            (f32x4.lt (local.get $t) (v128.const f32x4 0 0 0 0))
            (f32x4.gt (local.get $t) (v128.const f32x4 0 0 0 0))
            (f32x4.lt (v128.load (local.get $vote)) (v128.const f32x4 0 0 0 0))))
        (v128.store (local.get $mixed) (f32x4.add (v128.load (local.get $mixed)) (v128.and (local.get $t) (local.get $agree))))
        (v128.store (local.get $divisor) (f32x4.add (v128.load (local.get $divisor)) (v128.and (local.get $vw) (local.get $agree))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $vote (i32.add (local.get $vote) (i32.const 16)))
        (local.set $divisor (i32.add (local.get $divisor) (i32.const 16)))
        (local.set $mixed (i32.add (local.get $mixed) (i32.const 16)))
        (br $next))))

  ;; mixed = mixed / divisor, a zero divisor counting as 1.
  (func (export "divide_by_weights") (param $mixed i32) (param $divisor i32) (param $n i32)
    (local $end i32) (local $d v128)
    (local.set $end (i32.add (local.get $mixed) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $mixed) (local.get $end)))
        (local.set $d (v128.load (local.get $divisor)))
        (v128.store (local.get $mixed)
          (f32x4.div (v128.load (local.get $mixed))
            (f32x4.add (local.get $d)
              (v128.and (f32x4.eq (local.get $d) (v128.const f32x4 0 0 0 0)) (v128.const f32x4 1 1 1 1)))))
        (local.set $divisor (i32.add (local.get $divisor) (i32.const 16)))
        (local.set $mixed (i32.add (local.get $mixed) (i32.const 16)))
        (br $next))))

  ;; Three vectors in one pass, the same result as sum3 (the vote), a zeroed mixed/divisor pair,
  ;; three elect_accumulate, divide_by_weights when `normalize` is 1, and add_scaled_to_base:
  ;; out = base + lambda * mixed. An entry agrees when its product with the elected sign (+1 or -1)
  ;; is above zero; agreeing entries are never zero, so the zeroed start needs no add.
  (func (export "elect3") (param $out i32) (param $base i32) (param $a i32) (param $b i32) (param $c i32)
    (param $ca f32) (param $cb f32) (param $cc f32) (param $wa f32) (param $wb f32) (param $wc f32)
    (param $normalize i32) (param $lambda f32) (param $n i32)
    (local $end i32) (local $x v128) (local $y v128) (local $z v128) (local $sign v128) (local $agree v128)
    (local $mixed v128) (local $divisor v128) (local $v v128)
    (local $vca v128) (local $vcb v128) (local $vcc v128) (local $vwa v128) (local $vwb v128) (local $vwc v128) (local $vlambda v128)
    (local.set $vca (f32x4.splat (local.get $ca)))
    (local.set $vcb (f32x4.splat (local.get $cb)))
    (local.set $vcc (f32x4.splat (local.get $cc)))
    (local.set $vwa (f32x4.splat (local.get $wa)))
    (local.set $vwb (f32x4.splat (local.get $wb)))
    (local.set $vwc (f32x4.splat (local.get $wc)))
    (local.set $vlambda (f32x4.splat (local.get $lambda)))
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
        (local.set $x (f32x4.mul (local.get $vca) (v128.load (local.get $a))))
        (local.set $y (f32x4.mul (local.get $vcb) (v128.load (local.get $b))))
        (local.set $z (f32x4.mul (local.get $vcc) (v128.load (local.get $c))))
        ;; +1, or -1 where the vote is negative
        (local.set $sign (v128.or (v128.const f32x4 1 1 1 1)
          (v128.and (f32x4.lt (f32x4.add (f32x4.add (local.get $x) (local.get $y)) (local.get $z)) (v128.const f32x4 0 0 0 0))
            (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000))))
        (local.set $agree (f32x4.gt (f32x4.mul (local.get $x) (local.get $sign)) (v128.const f32x4 0 0 0 0)))
        (local.set $mixed (v128.and (local.get $x) (local.get $agree)))
        (local.set $divisor (v128.and (local.get $vwa) (local.get $agree)))
        (local.set $agree (f32x4.gt (f32x4.mul (local.get $y) (local.get $sign)) (v128.const f32x4 0 0 0 0)))
        (local.set $mixed (f32x4.add (local.get $mixed) (v128.and (local.get $y) (local.get $agree))))
        (local.set $divisor (f32x4.add (local.get $divisor) (v128.and (local.get $vwb) (local.get $agree))))
        (local.set $agree (f32x4.gt (f32x4.mul (local.get $z) (local.get $sign)) (v128.const f32x4 0 0 0 0)))
        (local.set $mixed (f32x4.add (local.get $mixed) (v128.and (local.get $z) (local.get $agree))))
        (local.set $divisor (f32x4.add (local.get $divisor) (v128.and (local.get $vwc) (local.get $agree))))
        (if (local.get $normalize)
          (then
            (local.set $mixed
              (f32x4.div (local.get $mixed)
                (f32x4.add (local.get $divisor)
                  (v128.and (f32x4.eq (local.get $divisor) (v128.const f32x4 0 0 0 0)) (v128.const f32x4 1 1 1 1)))))))
        (v128.store (local.get $out)
          (f32x4.add (v128.load (local.get $base)) (f32x4.mul (local.get $mixed) (local.get $vlambda))))
        (local.set $a (i32.add (local.get $a) (i32.const 16)))
        (local.set $b (i32.add (local.get $b) (i32.const 16)))
        (local.set $c (i32.add (local.get $c) (i32.const 16)))
        (local.set $base (i32.add (local.get $base) (i32.const 16)))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))
        (br $next))))

  ;; elect3 on three DARE task vectors formed on the fly: dare_mask of each (its stream key and
  ;; threshold, element index `first` + j) followed by elect3, in one pass.
  (func (export "dare_elect3") (param $out i32) (param $base i32) (param $a i32) (param $b i32) (param $c i32)
    (param $ca f32) (param $cb f32) (param $cc f32) (param $wa f32) (param $wb f32) (param $wc f32)
    (param $normalize i32) (param $lambda f32) (param $n i32)
    (param $first i32) (param $keyA i32) (param $keyB i32) (param $keyC i32) (param $thresholdA i32) (param $thresholdB i32) (param $thresholdC i32)
    (local $end i32) (local $x v128) (local $y v128) (local $z v128) (local $sign v128) (local $agree v128)
    (local $mixed v128) (local $divisor v128) (local $v v128)
    (local $vca v128) (local $vcb v128) (local $vcc v128) (local $vwa v128) (local $vwb v128) (local $vwc v128) (local $vlambda v128)
    (local $index v128) (local $h v128)
    (local.set $vca (f32x4.splat (local.get $ca)))
    (local.set $vcb (f32x4.splat (local.get $cb)))
    (local.set $vcc (f32x4.splat (local.get $cc)))
    (local.set $vwa (f32x4.splat (local.get $wa)))
    (local.set $vwb (f32x4.splat (local.get $wb)))
    (local.set $vwc (f32x4.splat (local.get $wc)))
    (local.set $vlambda (f32x4.splat (local.get $lambda)))
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $index (i32x4.add (i32x4.splat (local.get $first)) (v128.const i32x4 0 1 2 3)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
        (local.set $x (f32x4.mul (local.get $vca) (block (result v128)
          (local.set $h (v128.xor (i32x4.splat (local.get $keyA)) (local.get $index)))
          (local.set $h (v128.xor (local.get $h) (i32x4.shr_u (local.get $h) (i32.const 16))))
          (local.set $h (i32x4.mul (local.get $h) (v128.const i32x4 0x7feb352d 0x7feb352d 0x7feb352d 0x7feb352d)))
          (local.set $h (v128.xor (local.get $h) (i32x4.shr_u (local.get $h) (i32.const 15))))
          (local.set $h (i32x4.mul (local.get $h) (v128.const i32x4 0x846ca68b 0x846ca68b 0x846ca68b 0x846ca68b)))
          (local.set $h (i32x4.shr_u (v128.xor (local.get $h) (i32x4.shr_u (local.get $h) (i32.const 16))) (i32.const 8)))
          (v128.and (f32x4.sub (v128.load (local.get $a)) (v128.load (local.get $base)))
            (i32x4.lt_s (local.get $h) (i32x4.splat (local.get $thresholdA)))))))
        (local.set $y (f32x4.mul (local.get $vcb) (block (result v128)
          (local.set $h (v128.xor (i32x4.splat (local.get $keyB)) (local.get $index)))
          (local.set $h (v128.xor (local.get $h) (i32x4.shr_u (local.get $h) (i32.const 16))))
          (local.set $h (i32x4.mul (local.get $h) (v128.const i32x4 0x7feb352d 0x7feb352d 0x7feb352d 0x7feb352d)))
          (local.set $h (v128.xor (local.get $h) (i32x4.shr_u (local.get $h) (i32.const 15))))
          (local.set $h (i32x4.mul (local.get $h) (v128.const i32x4 0x846ca68b 0x846ca68b 0x846ca68b 0x846ca68b)))
          (local.set $h (i32x4.shr_u (v128.xor (local.get $h) (i32x4.shr_u (local.get $h) (i32.const 16))) (i32.const 8)))
          (v128.and (f32x4.sub (v128.load (local.get $b)) (v128.load (local.get $base)))
            (i32x4.lt_s (local.get $h) (i32x4.splat (local.get $thresholdB)))))))
        (local.set $z (f32x4.mul (local.get $vcc) (block (result v128)
          (local.set $h (v128.xor (i32x4.splat (local.get $keyC)) (local.get $index)))
          (local.set $h (v128.xor (local.get $h) (i32x4.shr_u (local.get $h) (i32.const 16))))
          (local.set $h (i32x4.mul (local.get $h) (v128.const i32x4 0x7feb352d 0x7feb352d 0x7feb352d 0x7feb352d)))
          (local.set $h (v128.xor (local.get $h) (i32x4.shr_u (local.get $h) (i32.const 15))))
          (local.set $h (i32x4.mul (local.get $h) (v128.const i32x4 0x846ca68b 0x846ca68b 0x846ca68b 0x846ca68b)))
          (local.set $h (i32x4.shr_u (v128.xor (local.get $h) (i32x4.shr_u (local.get $h) (i32.const 16))) (i32.const 8)))
          (v128.and (f32x4.sub (v128.load (local.get $c)) (v128.load (local.get $base)))
            (i32x4.lt_s (local.get $h) (i32x4.splat (local.get $thresholdC)))))))
        ;; +1, or -1 where the vote is negative
        (local.set $sign (v128.or (v128.const f32x4 1 1 1 1)
          (v128.and (f32x4.lt (f32x4.add (f32x4.add (local.get $x) (local.get $y)) (local.get $z)) (v128.const f32x4 0 0 0 0))
            (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000))))
        (local.set $agree (f32x4.gt (f32x4.mul (local.get $x) (local.get $sign)) (v128.const f32x4 0 0 0 0)))
        (local.set $mixed (v128.and (local.get $x) (local.get $agree)))
        (local.set $divisor (v128.and (local.get $vwa) (local.get $agree)))
        (local.set $agree (f32x4.gt (f32x4.mul (local.get $y) (local.get $sign)) (v128.const f32x4 0 0 0 0)))
        (local.set $mixed (f32x4.add (local.get $mixed) (v128.and (local.get $y) (local.get $agree))))
        (local.set $divisor (f32x4.add (local.get $divisor) (v128.and (local.get $vwb) (local.get $agree))))
        (local.set $agree (f32x4.gt (f32x4.mul (local.get $z) (local.get $sign)) (v128.const f32x4 0 0 0 0)))
        (local.set $mixed (f32x4.add (local.get $mixed) (v128.and (local.get $z) (local.get $agree))))
        (local.set $divisor (f32x4.add (local.get $divisor) (v128.and (local.get $vwc) (local.get $agree))))
        (if (local.get $normalize)
          (then
            (local.set $mixed
              (f32x4.div (local.get $mixed)
                (f32x4.add (local.get $divisor)
                  (v128.and (f32x4.eq (local.get $divisor) (v128.const f32x4 0 0 0 0)) (v128.const f32x4 1 1 1 1)))))))
        (v128.store (local.get $out)
          (f32x4.add (v128.load (local.get $base)) (f32x4.mul (local.get $mixed) (local.get $vlambda))))
        (local.set $index (i32x4.add (local.get $index) (v128.const i32x4 4 4 4 4)))
        (local.set $a (i32.add (local.get $a) (i32.const 16)))
        (local.set $b (i32.add (local.get $b) (i32.const 16)))
        (local.set $c (i32.add (local.get $c) (i32.const 16)))
        (local.set $base (i32.add (local.get $base) (i32.const 16)))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))
        (br $next))))

  ;; dare_elect3 with the keep flags read from `bitsA`.. (as dare_drop wrote them) instead of
  ;; hashed again: the same masks, so the same result.
  (func (export "kept_elect3") (param $out i32) (param $base i32) (param $a i32) (param $b i32) (param $c i32)
    (param $ca f32) (param $cb f32) (param $cc f32) (param $wa f32) (param $wb f32) (param $wc f32)
    (param $normalize i32) (param $lambda f32) (param $n i32)
    (param $bitsA i32) (param $bitsB i32) (param $bitsC i32)
    (local $end i32) (local $x v128) (local $y v128) (local $z v128) (local $sign v128) (local $agree v128)
    (local $mixed v128) (local $divisor v128) (local $v v128)
    (local $vca v128) (local $vcb v128) (local $vcc v128) (local $vwa v128) (local $vwb v128) (local $vwc v128) (local $vlambda v128)
    (local $k i32) (local $shift i32)
    (local.set $vca (f32x4.splat (local.get $ca)))
    (local.set $vcb (f32x4.splat (local.get $cb)))
    (local.set $vcc (f32x4.splat (local.get $cc)))
    (local.set $vwa (f32x4.splat (local.get $wa)))
    (local.set $vwb (f32x4.splat (local.get $wb)))
    (local.set $vwc (f32x4.splat (local.get $wc)))
    (local.set $vlambda (f32x4.splat (local.get $lambda)))
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
        (local.set $shift (i32.and (local.get $k) (i32.const 4)))
        (local.set $x (f32x4.mul (local.get $vca) (v128.and (f32x4.sub (v128.load (local.get $a)) (v128.load (local.get $base)))
          (i32x4.eq (v128.const i32x4 1 2 4 8)
            (v128.and (v128.const i32x4 1 2 4 8)
              (i32x4.splat (i32.shr_u (i32.load8_u (i32.add (local.get $bitsA) (i32.shr_u (local.get $k) (i32.const 3)))) (local.get $shift))))))))
        (local.set $y (f32x4.mul (local.get $vcb) (v128.and (f32x4.sub (v128.load (local.get $b)) (v128.load (local.get $base)))
          (i32x4.eq (v128.const i32x4 1 2 4 8)
            (v128.and (v128.const i32x4 1 2 4 8)
              (i32x4.splat (i32.shr_u (i32.load8_u (i32.add (local.get $bitsB) (i32.shr_u (local.get $k) (i32.const 3)))) (local.get $shift))))))))
        (local.set $z (f32x4.mul (local.get $vcc) (v128.and (f32x4.sub (v128.load (local.get $c)) (v128.load (local.get $base)))
          (i32x4.eq (v128.const i32x4 1 2 4 8)
            (v128.and (v128.const i32x4 1 2 4 8)
              (i32x4.splat (i32.shr_u (i32.load8_u (i32.add (local.get $bitsC) (i32.shr_u (local.get $k) (i32.const 3)))) (local.get $shift))))))))
        ;; +1, or -1 where the vote is negative
        (local.set $sign (v128.or (v128.const f32x4 1 1 1 1)
          (v128.and (f32x4.lt (f32x4.add (f32x4.add (local.get $x) (local.get $y)) (local.get $z)) (v128.const f32x4 0 0 0 0))
            (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000))))
        (local.set $agree (f32x4.gt (f32x4.mul (local.get $x) (local.get $sign)) (v128.const f32x4 0 0 0 0)))
        (local.set $mixed (v128.and (local.get $x) (local.get $agree)))
        (local.set $divisor (v128.and (local.get $vwa) (local.get $agree)))
        (local.set $agree (f32x4.gt (f32x4.mul (local.get $y) (local.get $sign)) (v128.const f32x4 0 0 0 0)))
        (local.set $mixed (f32x4.add (local.get $mixed) (v128.and (local.get $y) (local.get $agree))))
        (local.set $divisor (f32x4.add (local.get $divisor) (v128.and (local.get $vwb) (local.get $agree))))
        (local.set $agree (f32x4.gt (f32x4.mul (local.get $z) (local.get $sign)) (v128.const f32x4 0 0 0 0)))
        (local.set $mixed (f32x4.add (local.get $mixed) (v128.and (local.get $z) (local.get $agree))))
        (local.set $divisor (f32x4.add (local.get $divisor) (v128.and (local.get $vwc) (local.get $agree))))
        (if (local.get $normalize)
          (then
            (local.set $mixed
              (f32x4.div (local.get $mixed)
                (f32x4.add (local.get $divisor)
                  (v128.and (f32x4.eq (local.get $divisor) (v128.const f32x4 0 0 0 0)) (v128.const f32x4 1 1 1 1)))))))
        (v128.store (local.get $out)
          (f32x4.add (v128.load (local.get $base)) (f32x4.mul (local.get $mixed) (local.get $vlambda))))
        (local.set $k (i32.add (local.get $k) (i32.const 4)))
        (local.set $a (i32.add (local.get $a) (i32.const 16)))
        (local.set $b (i32.add (local.get $b) (i32.const 16)))
        (local.set $c (i32.add (local.get $c) (i32.const 16)))
        (local.set $base (i32.add (local.get $base) (i32.const 16)))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))
        (br $next))))

  ;; Histograms of the magnitude keys (f32 bits without the sign) for an exact rank cut: the high
  ;; 15 bits of every key, then the low 16 bits of the keys whose high bits are `bin`. u32 counts.
  (func (export "histogram_high") (param $x i32) (param $n i32) (param $hist i32)
    (local $end i32) (local $slot i32)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $slot (i32.add (local.get $hist) (i32.and (i32.shr_u (i32.load (local.get $x)) (i32.const 14)) (i32.const 0x1fffc))))
        (i32.store (local.get $slot) (i32.add (i32.load (local.get $slot)) (i32.const 1)))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (br $next))))

  (func (export "histogram_low") (param $x i32) (param $n i32) (param $hist i32) (param $bin i32)
    (local $end i32) (local $vbin v128) (local $p i32) (local $key i32) (local $slot i32)
    (local.set $vbin (i32x4.splat (local.get $bin)))
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (if (v128.any_true (i32x4.eq (local.get $vbin)
              (i32x4.shr_u (v128.and (v128.load (local.get $x)) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff)) (i32.const 16))))
          (then
            (local.set $p (local.get $x))
            (block $lanes_done
              (loop $lane
                (br_if $lanes_done (i32.ge_u (local.get $p) (i32.add (local.get $x) (i32.const 16))))
                (local.set $key (i32.and (i32.load (local.get $p)) (i32.const 0x7fffffff)))
                (if (i32.eq (i32.shr_u (local.get $key) (i32.const 16)) (local.get $bin))
                  (then
                    (local.set $slot (i32.add (local.get $hist) (i32.shl (i32.and (local.get $key) (i32.const 0xffff)) (i32.const 2))))
                    (i32.store (local.get $slot) (i32.add (i32.load (local.get $slot)) (i32.const 1)))))
                (local.set $p (i32.add (local.get $p) (i32.const 4)))
                (br $lane)))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (br $next))))

  ;; TIES magnitude mask in place: keeps x where |x|'s key is above `threshold`, and the keys equal
  ;; to it while `budget` lasts (index order); returns the budget left for the next tile.
  ;; `threshold` must be at most 0x7fffffff (keys are the f32 bits without the sign).
  (func (export "keep_above_cut") (param $x i32) (param $n i32) (param $threshold i32) (param $budget i32) (result i32)
    (local $end i32) (local $vt v128) (local $key v128) (local $p i32) (local $k i32)
    (local.set $vt (i32x4.splat (local.get $threshold)))
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $key (v128.and (v128.load (local.get $x)) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff)))
        (if (v128.any_true (i32x4.eq (local.get $key) (local.get $vt)))
          (then
            ;; Rare: a key equal to the threshold; these four go one by one, in index order.
            (local.set $p (local.get $x))
            (block $lanes_done
              (loop $lane
                (br_if $lanes_done (i32.ge_u (local.get $p) (i32.add (local.get $x) (i32.const 16))))
                (local.set $k (i32.and (i32.load (local.get $p)) (i32.const 0x7fffffff)))
                (if (i32.eq (local.get $k) (local.get $threshold))
                  (then
                    (if (i32.gt_s (local.get $budget) (i32.const 0))
                      (then (local.set $budget (i32.sub (local.get $budget) (i32.const 1))))
                      (else (f32.store (local.get $p) (f32.const 0)))))
                  (else
                    (if (i32.le_s (local.get $k) (local.get $threshold))
                      (then (f32.store (local.get $p) (f32.const 0))))))
                (local.set $p (i32.add (local.get $p) (i32.const 4)))
                (br $lane))))
          (else
            (v128.store (local.get $x) (v128.and (v128.load (local.get $x)) (i32x4.gt_s (local.get $key) (local.get $vt))))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (br $next)))
    (local.get $budget))

  ;; ---- DARE: random drop from the counter-based stream (src/core/methods/random.ts) ----

  ;; The task vector x - base, each entry kept when draw24(streamKey, first + j) < threshold, else 0.
  ;; L1 norms before and after are added to the eight f64 at `sums` (lanes 0-3 before, then lanes
  ;; 0-3 after): eight entries per step, lane l taking fround(|x[8s+l]| + |x[8s+4+l]|). The keep
  ;; flags go to `bits`, bit j of byte s for entry 8s+j.
  (func (export "dare_drop") (param $x i32) (param $base i32) (param $n i32) (param $streamKey i32) (param $first i32) (param $threshold i32) (param $sums i32) (param $bits i32)
    (local $end i32) (local $vkey v128) (local $vthreshold v128) (local $index v128) (local $h v128)
    (local $d0 v128) (local $d1 v128) (local $k0 v128) (local $k1 v128) (local $p v128) (local $m0 v128)
    (local $b01 v128) (local $b23 v128) (local $a01 v128) (local $a23 v128)
    (local.set $index (i32x4.add (i32x4.splat (local.get $first)) (v128.const i32x4 0 1 2 3)))
    (local.set $vkey (i32x4.splat (local.get $streamKey)))
    (local.set $vthreshold (i32x4.splat (local.get $threshold)))
    (local.set $b01 (v128.load (local.get $sums)))
    (local.set $b23 (v128.load offset=16 (local.get $sums)))
    (local.set $a01 (v128.load offset=32 (local.get $sums)))
    (local.set $a23 (v128.load offset=48 (local.get $sums)))
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        ;; lowbias32 finalizer of (streamKey ^ index), top 24 bits, for the first four...
        (local.set $h (v128.xor (local.get $vkey) (local.get $index)))
        (local.set $h (v128.xor (local.get $h) (i32x4.shr_u (local.get $h) (i32.const 16))))
        (local.set $h (i32x4.mul (local.get $h) (v128.const i32x4 0x7feb352d 0x7feb352d 0x7feb352d 0x7feb352d)))
        (local.set $h (v128.xor (local.get $h) (i32x4.shr_u (local.get $h) (i32.const 15))))
        (local.set $h (i32x4.mul (local.get $h) (v128.const i32x4 0x846ca68b 0x846ca68b 0x846ca68b 0x846ca68b)))
        (local.set $h (i32x4.shr_u (v128.xor (local.get $h) (i32x4.shr_u (local.get $h) (i32.const 16))) (i32.const 8)))
        (local.set $d0 (f32x4.sub (v128.load (local.get $x)) (v128.load (local.get $base))))
        (local.set $m0 (i32x4.lt_s (local.get $h) (local.get $vthreshold)))
        (local.set $k0 (v128.and (local.get $d0) (local.get $m0)))
        (local.set $index (i32x4.add (local.get $index) (v128.const i32x4 4 4 4 4)))
        ;; ...and the next four.
        (local.set $h (v128.xor (local.get $vkey) (local.get $index)))
        (local.set $h (v128.xor (local.get $h) (i32x4.shr_u (local.get $h) (i32.const 16))))
        (local.set $h (i32x4.mul (local.get $h) (v128.const i32x4 0x7feb352d 0x7feb352d 0x7feb352d 0x7feb352d)))
        (local.set $h (v128.xor (local.get $h) (i32x4.shr_u (local.get $h) (i32.const 15))))
        (local.set $h (i32x4.mul (local.get $h) (v128.const i32x4 0x846ca68b 0x846ca68b 0x846ca68b 0x846ca68b)))
        (local.set $h (i32x4.shr_u (v128.xor (local.get $h) (i32x4.shr_u (local.get $h) (i32.const 16))) (i32.const 8)))
        (local.set $d1 (f32x4.sub (v128.load offset=16 (local.get $x)) (v128.load offset=16 (local.get $base))))
        (local.set $h (i32x4.lt_s (local.get $h) (local.get $vthreshold)))
        (local.set $k1 (v128.and (local.get $d1) (local.get $h)))
        ;; The eight keep flags, one bit each, for the mixing pass.
        (i32.store8 (local.get $bits)
          (i32.or (i32x4.bitmask (local.get $m0)) (i32.shl (i32x4.bitmask (local.get $h)) (i32.const 4))))
        (local.set $bits (i32.add (local.get $bits) (i32.const 1)))
        (local.set $index (i32x4.add (local.get $index) (v128.const i32x4 4 4 4 4)))
        (local.set $p (f32x4.add (f32x4.abs (local.get $d0)) (f32x4.abs (local.get $d1))))
        (local.set $b01 (f64x2.add (local.get $b01) (f64x2.promote_low_f32x4 (local.get $p))))
        (local.set $b23 (f64x2.add (local.get $b23)
          (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $p) (local.get $p)))))
        (local.set $p (f32x4.add (f32x4.abs (local.get $k0)) (f32x4.abs (local.get $k1))))
        (local.set $a01 (f64x2.add (local.get $a01) (f64x2.promote_low_f32x4 (local.get $p))))
        (local.set $a23 (f64x2.add (local.get $a23)
          (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $p) (local.get $p)))))
        (local.set $base (i32.add (local.get $base) (i32.const 32)))
        (local.set $x (i32.add (local.get $x) (i32.const 32)))
        (br $next)))
    (v128.store (local.get $sums) (local.get $b01))
    (v128.store offset=16 (local.get $sums) (local.get $b23))
    (v128.store offset=32 (local.get $sums) (local.get $a01))
    (v128.store offset=48 (local.get $sums) (local.get $a23)))

  ;; dare_drop without the norms (the mixing pass, once the norms are known).
  (func (export "dare_mask") (param $x i32) (param $base i32) (param $n i32) (param $streamKey i32) (param $first i32) (param $threshold i32)
    (local $end i32) (local $vkey v128) (local $vthreshold v128) (local $index v128) (local $h v128)
    (local.set $index (i32x4.add (i32x4.splat (local.get $first)) (v128.const i32x4 0 1 2 3)))
    (local.set $vkey (i32x4.splat (local.get $streamKey)))
    (local.set $vthreshold (i32x4.splat (local.get $threshold)))
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $h (v128.xor (local.get $vkey) (local.get $index)))
        (local.set $h (v128.xor (local.get $h) (i32x4.shr_u (local.get $h) (i32.const 16))))
        (local.set $h (i32x4.mul (local.get $h) (v128.const i32x4 0x7feb352d 0x7feb352d 0x7feb352d 0x7feb352d)))
        (local.set $h (v128.xor (local.get $h) (i32x4.shr_u (local.get $h) (i32.const 15))))
        (local.set $h (i32x4.mul (local.get $h) (v128.const i32x4 0x846ca68b 0x846ca68b 0x846ca68b 0x846ca68b)))
        (local.set $h (i32x4.shr_u (v128.xor (local.get $h) (i32x4.shr_u (local.get $h) (i32.const 16))) (i32.const 8)))
        (v128.store (local.get $x)
          (v128.and (f32x4.sub (v128.load (local.get $x)) (v128.load (local.get $base)))
            (i32x4.lt_s (local.get $h) (local.get $vthreshold))))
        (local.set $index (i32x4.add (local.get $index) (v128.const i32x4 4 4 4 4)))
        (local.set $base (i32.add (local.get $base) (i32.const 16)))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (br $next))))

  ;; dare_drop on BF16 inputs as stored (two bytes per entry), decoded in registers.
  (func (export "dare_drop_bf16") (param $x i32) (param $base i32) (param $n i32) (param $streamKey i32) (param $first i32) (param $threshold i32) (param $sums i32) (param $bits i32)
    (local $end i32) (local $vkey v128) (local $vthreshold v128) (local $index v128) (local $h v128)
    (local $d0 v128) (local $d1 v128) (local $k0 v128) (local $k1 v128) (local $p v128) (local $m0 v128)
    (local $b01 v128) (local $b23 v128) (local $a01 v128) (local $a23 v128)
    (local.set $index (i32x4.add (i32x4.splat (local.get $first)) (v128.const i32x4 0 1 2 3)))
    (local.set $vkey (i32x4.splat (local.get $streamKey)))
    (local.set $vthreshold (i32x4.splat (local.get $threshold)))
    (local.set $b01 (v128.load (local.get $sums)))
    (local.set $b23 (v128.load offset=16 (local.get $sums)))
    (local.set $a01 (v128.load offset=32 (local.get $sums)))
    (local.set $a23 (v128.load offset=48 (local.get $sums)))
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 1))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        ;; lowbias32 finalizer of (streamKey ^ index), top 24 bits, for the first four...
        (local.set $h (v128.xor (local.get $vkey) (local.get $index)))
        (local.set $h (v128.xor (local.get $h) (i32x4.shr_u (local.get $h) (i32.const 16))))
        (local.set $h (i32x4.mul (local.get $h) (v128.const i32x4 0x7feb352d 0x7feb352d 0x7feb352d 0x7feb352d)))
        (local.set $h (v128.xor (local.get $h) (i32x4.shr_u (local.get $h) (i32.const 15))))
        (local.set $h (i32x4.mul (local.get $h) (v128.const i32x4 0x846ca68b 0x846ca68b 0x846ca68b 0x846ca68b)))
        (local.set $h (i32x4.shr_u (v128.xor (local.get $h) (i32x4.shr_u (local.get $h) (i32.const 16))) (i32.const 8)))
        (local.set $d0 (f32x4.sub (i32x4.shl (v128.load16x4_u (local.get $x)) (i32.const 16)) (i32x4.shl (v128.load16x4_u (local.get $base)) (i32.const 16))))
        (local.set $m0 (i32x4.lt_s (local.get $h) (local.get $vthreshold)))
        (local.set $k0 (v128.and (local.get $d0) (local.get $m0)))
        (local.set $index (i32x4.add (local.get $index) (v128.const i32x4 4 4 4 4)))
        ;; ...and the next four.
        (local.set $h (v128.xor (local.get $vkey) (local.get $index)))
        (local.set $h (v128.xor (local.get $h) (i32x4.shr_u (local.get $h) (i32.const 16))))
        (local.set $h (i32x4.mul (local.get $h) (v128.const i32x4 0x7feb352d 0x7feb352d 0x7feb352d 0x7feb352d)))
        (local.set $h (v128.xor (local.get $h) (i32x4.shr_u (local.get $h) (i32.const 15))))
        (local.set $h (i32x4.mul (local.get $h) (v128.const i32x4 0x846ca68b 0x846ca68b 0x846ca68b 0x846ca68b)))
        (local.set $h (i32x4.shr_u (v128.xor (local.get $h) (i32x4.shr_u (local.get $h) (i32.const 16))) (i32.const 8)))
        (local.set $d1 (f32x4.sub (i32x4.shl (v128.load16x4_u offset=8 (local.get $x)) (i32.const 16)) (i32x4.shl (v128.load16x4_u offset=8 (local.get $base)) (i32.const 16))))
        (local.set $h (i32x4.lt_s (local.get $h) (local.get $vthreshold)))
        (local.set $k1 (v128.and (local.get $d1) (local.get $h)))
        ;; The eight keep flags, one bit each, for the mixing pass.
        (i32.store8 (local.get $bits)
          (i32.or (i32x4.bitmask (local.get $m0)) (i32.shl (i32x4.bitmask (local.get $h)) (i32.const 4))))
        (local.set $bits (i32.add (local.get $bits) (i32.const 1)))
        (local.set $index (i32x4.add (local.get $index) (v128.const i32x4 4 4 4 4)))
        (local.set $p (f32x4.add (f32x4.abs (local.get $d0)) (f32x4.abs (local.get $d1))))
        (local.set $b01 (f64x2.add (local.get $b01) (f64x2.promote_low_f32x4 (local.get $p))))
        (local.set $b23 (f64x2.add (local.get $b23)
          (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $p) (local.get $p)))))
        (local.set $p (f32x4.add (f32x4.abs (local.get $k0)) (f32x4.abs (local.get $k1))))
        (local.set $a01 (f64x2.add (local.get $a01) (f64x2.promote_low_f32x4 (local.get $p))))
        (local.set $a23 (f64x2.add (local.get $a23)
          (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $p) (local.get $p)))))
        (local.set $base (i32.add (local.get $base) (i32.const 16)))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (br $next)))
    (v128.store (local.get $sums) (local.get $b01))
    (v128.store offset=16 (local.get $sums) (local.get $b23))
    (v128.store offset=32 (local.get $sums) (local.get $a01))
    (v128.store offset=48 (local.get $sums) (local.get $a23)))

  ;; dare_drop without the norms (the mixing pass, once the norms are known).
  ;; kept_elect3 on BF16 inputs as stored (out stays float32), decoded in registers.
  (func (export "kept_elect3_bf16") (param $out i32) (param $base i32) (param $a i32) (param $b i32) (param $c i32)
    (param $ca f32) (param $cb f32) (param $cc f32) (param $wa f32) (param $wb f32) (param $wc f32)
    (param $normalize i32) (param $lambda f32) (param $n i32)
    (param $bitsA i32) (param $bitsB i32) (param $bitsC i32)
    (local $end i32) (local $x v128) (local $y v128) (local $z v128) (local $sign v128) (local $agree v128)
    (local $mixed v128) (local $divisor v128) (local $v v128)
    (local $vca v128) (local $vcb v128) (local $vcc v128) (local $vwa v128) (local $vwb v128) (local $vwc v128) (local $vlambda v128)
    (local $k i32) (local $shift i32)
    (local.set $vca (f32x4.splat (local.get $ca)))
    (local.set $vcb (f32x4.splat (local.get $cb)))
    (local.set $vcc (f32x4.splat (local.get $cc)))
    (local.set $vwa (f32x4.splat (local.get $wa)))
    (local.set $vwb (f32x4.splat (local.get $wb)))
    (local.set $vwc (f32x4.splat (local.get $wc)))
    (local.set $vlambda (f32x4.splat (local.get $lambda)))
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
        (local.set $shift (i32.and (local.get $k) (i32.const 4)))
        (local.set $x (f32x4.mul (local.get $vca) (v128.and (f32x4.sub (i32x4.shl (v128.load16x4_u (local.get $a)) (i32.const 16)) (i32x4.shl (v128.load16x4_u (local.get $base)) (i32.const 16)))
          (i32x4.eq (v128.const i32x4 1 2 4 8)
            (v128.and (v128.const i32x4 1 2 4 8)
              (i32x4.splat (i32.shr_u (i32.load8_u (i32.add (local.get $bitsA) (i32.shr_u (local.get $k) (i32.const 3)))) (local.get $shift))))))))
        (local.set $y (f32x4.mul (local.get $vcb) (v128.and (f32x4.sub (i32x4.shl (v128.load16x4_u (local.get $b)) (i32.const 16)) (i32x4.shl (v128.load16x4_u (local.get $base)) (i32.const 16)))
          (i32x4.eq (v128.const i32x4 1 2 4 8)
            (v128.and (v128.const i32x4 1 2 4 8)
              (i32x4.splat (i32.shr_u (i32.load8_u (i32.add (local.get $bitsB) (i32.shr_u (local.get $k) (i32.const 3)))) (local.get $shift))))))))
        (local.set $z (f32x4.mul (local.get $vcc) (v128.and (f32x4.sub (i32x4.shl (v128.load16x4_u (local.get $c)) (i32.const 16)) (i32x4.shl (v128.load16x4_u (local.get $base)) (i32.const 16)))
          (i32x4.eq (v128.const i32x4 1 2 4 8)
            (v128.and (v128.const i32x4 1 2 4 8)
              (i32x4.splat (i32.shr_u (i32.load8_u (i32.add (local.get $bitsC) (i32.shr_u (local.get $k) (i32.const 3)))) (local.get $shift))))))))
        ;; +1, or -1 where the vote is negative
        (local.set $sign (v128.or (v128.const f32x4 1 1 1 1)
          (v128.and (f32x4.lt (f32x4.add (f32x4.add (local.get $x) (local.get $y)) (local.get $z)) (v128.const f32x4 0 0 0 0))
            (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000))))
        (local.set $agree (f32x4.gt (f32x4.mul (local.get $x) (local.get $sign)) (v128.const f32x4 0 0 0 0)))
        (local.set $mixed (v128.and (local.get $x) (local.get $agree)))
        (local.set $divisor (v128.and (local.get $vwa) (local.get $agree)))
        (local.set $agree (f32x4.gt (f32x4.mul (local.get $y) (local.get $sign)) (v128.const f32x4 0 0 0 0)))
        (local.set $mixed (f32x4.add (local.get $mixed) (v128.and (local.get $y) (local.get $agree))))
        (local.set $divisor (f32x4.add (local.get $divisor) (v128.and (local.get $vwb) (local.get $agree))))
        (local.set $agree (f32x4.gt (f32x4.mul (local.get $z) (local.get $sign)) (v128.const f32x4 0 0 0 0)))
        (local.set $mixed (f32x4.add (local.get $mixed) (v128.and (local.get $z) (local.get $agree))))
        (local.set $divisor (f32x4.add (local.get $divisor) (v128.and (local.get $vwc) (local.get $agree))))
        (if (local.get $normalize)
          (then
            (local.set $mixed
              (f32x4.div (local.get $mixed)
                (f32x4.add (local.get $divisor)
                  (v128.and (f32x4.eq (local.get $divisor) (v128.const f32x4 0 0 0 0)) (v128.const f32x4 1 1 1 1)))))))
        (v128.store (local.get $out)
          (f32x4.add (i32x4.shl (v128.load16x4_u (local.get $base)) (i32.const 16)) (f32x4.mul (local.get $mixed) (local.get $vlambda))))
        (local.set $k (i32.add (local.get $k) (i32.const 4)))
        (local.set $a (i32.add (local.get $a) (i32.const 8)))
        (local.set $b (i32.add (local.get $b) (i32.const 8)))
        (local.set $c (i32.add (local.get $c) (i32.const 8)))
        (local.set $base (i32.add (local.get $base) (i32.const 8)))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))
        (br $next))))

  ;; Histograms of the magnitude keys (f32 bits without the sign) for an exact rank cut: the high
  ;; 15 bits of every key, then the low 16 bits of the keys whose high bits are `bin`. u32 counts.
  ;; ---- SLERP / Model Stock reductions ----

  ;; |a|^2, |b|^2 and a.b in f64 (exact products of f32), per lane (index mod 4), added to the
  ;; twelve f64 at `sums` (lanes 0-3 of each).
  (func (export "norms_and_dot") (param $a i32) (param $b i32) (param $n i32) (param $sums i32)
    (local $end i32) (local $va v128) (local $vb v128) (local $x v128) (local $y v128)
    (local $aa01 v128) (local $aa23 v128) (local $bb01 v128) (local $bb23 v128) (local $ab01 v128) (local $ab23 v128)
    (local.set $aa01 (v128.load (local.get $sums)))
    (local.set $aa23 (v128.load offset=16 (local.get $sums)))
    (local.set $bb01 (v128.load offset=32 (local.get $sums)))
    (local.set $bb23 (v128.load offset=48 (local.get $sums)))
    (local.set $ab01 (v128.load offset=64 (local.get $sums)))
    (local.set $ab23 (v128.load offset=80 (local.get $sums)))
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
        (local.set $va (v128.load (local.get $a)))
        (local.set $vb (v128.load (local.get $b)))
        (local.set $x (f64x2.promote_low_f32x4 (local.get $va)))
        (local.set $y (f64x2.promote_low_f32x4 (local.get $vb)))
        (local.set $aa01 (f64x2.add (local.get $aa01) (f64x2.mul (local.get $x) (local.get $x))))
        (local.set $bb01 (f64x2.add (local.get $bb01) (f64x2.mul (local.get $y) (local.get $y))))
        (local.set $ab01 (f64x2.add (local.get $ab01) (f64x2.mul (local.get $x) (local.get $y))))
        (local.set $x (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $va) (local.get $va))))
        (local.set $y (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $vb) (local.get $vb))))
        (local.set $aa23 (f64x2.add (local.get $aa23) (f64x2.mul (local.get $x) (local.get $x))))
        (local.set $bb23 (f64x2.add (local.get $bb23) (f64x2.mul (local.get $y) (local.get $y))))
        (local.set $ab23 (f64x2.add (local.get $ab23) (f64x2.mul (local.get $x) (local.get $y))))
        (local.set $a (i32.add (local.get $a) (i32.const 16)))
        (local.set $b (i32.add (local.get $b) (i32.const 16)))
        (br $next)))
    (v128.store (local.get $sums) (local.get $aa01))
    (v128.store offset=16 (local.get $sums) (local.get $aa23))
    (v128.store offset=32 (local.get $sums) (local.get $bb01))
    (v128.store offset=48 (local.get $sums) (local.get $bb23))
    (v128.store offset=64 (local.get $sums) (local.get $ab01))
    (v128.store offset=80 (local.get $sums) (local.get $ab23)))
)
