declare module "*.onnx" {
  const bytes: ArrayBuffer;
  export default bytes;
}
declare module "*.jsonl" {
  const text: string;
  export default text;
}
