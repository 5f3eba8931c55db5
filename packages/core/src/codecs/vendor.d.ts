// Minimal typings for the untyped pure-JS compression packages we use.
declare module 'snappyjs' {
  export function compress(input: Uint8Array): Uint8Array
}
declare module 'lz4js' {
  export function compress(input: Uint8Array, maxSize?: number): Uint8Array
  export function compressBound(n: number): number
  export function compressBlock(
    src: Uint8Array,
    dst: Uint8Array,
    sIndex: number,
    sLength: number,
    hashTable: Uint32Array,
  ): number
  export function decompressBlock(
    src: Uint8Array,
    dst: Uint8Array,
    sIndex: number,
    sLength: number,
    dIndex: number,
  ): number
}
declare module 'lz4js/xxh32.js' {
  export function hash(seed: number, src: Uint8Array, index: number, len: number): number
}
