/** A model file pushed by multipart upload, as the catalogue records it until the model is registered. */
export interface PushedUpload {
  readonly uploadId: string;
  readonly modelId: string;
  readonly file: string;
  readonly sha256: string;
  readonly completed: boolean;
  readonly startedAt: string;
}
