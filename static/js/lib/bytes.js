// Bytes for the wire and the address bar: a 28×28 input as MNIST's 8-bit pixels, and bytes as base64. One place for
// each, used by links (viewcode.js, view.js), class mode (class/wire.js) and the api (api.js).

/**
 * The page's 28×28 input (floats in [0, 1], 1 = ink) as 784 bytes (0 … 255, 255 = ink: MNIST's white on black).
 * @param {{data: ArrayLike<number>}} input (28, 28)  @returns {Uint8Array} (784,)
 */
export function inputBytes(input) {
  const out = new Uint8Array(784);
  for (let i = 0; i < 784; i++) out[i] = Math.round(Math.min(1, Math.max(0, input.data[i] || 0)) * 255);
  return out;
}

/** @param {Uint8Array} bytes  @returns {string} base64, with padding */
export function toBase64(bytes) {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}
