/** Floating-point operations of one forward pass of the reference decoder (multiply-add = 2). */
export interface DecoderShape {
  n_layers: number;
  d_model: number;
  d_ff: number;
  vocab_size: number;
}

export function forwardFlops(c: DecoderShape, batch: number, sequence: number, rank = 0): number {
  const tokens = batch * sequence;
  const linear = c.n_layers * (4 * c.d_model * c.d_model + 3 * c.d_model * c.d_ff) + c.d_model * c.vocab_size;
  const lora = rank * c.n_layers * 4 * 2 * c.d_model;
  // Scores and weighted values over the full (unmasked) square, as the runtime computes them.
  const attention = c.n_layers * 2 * batch * sequence * sequence * c.d_model;
  return 2 * tokens * (linear + lora) + 2 * attention;
}
