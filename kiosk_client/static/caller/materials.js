// Materials from the caller's side: a file upload (/call), a drawn signature, or a photo
// from the kiosk's document camera. The file goes as the raw request body to
// POST /api/calls/{call_id}/materials (docs/protocol.md); the server checks its content.

/** The largest file the server takes (max_material_bytes, 10 MiB by default). */
export const MAX_MATERIAL_BYTES = 10 * 1024 * 1024;
const ACCEPTED = ["image/jpeg", "image/png", "image/webp", "application/pdf"];

export class UploadError extends Error {
  constructor(code, message = code) {
    super(message);
    this.code = code;
  }
}

/** A problem with a chosen file before it is sent: "too_large", "wrong_type" or null. */
export function fileProblem(file) {
  if (file.size > MAX_MATERIAL_BYTES) return "too_large";
  if (file.type && !ACCEPTED.includes(file.type)) return "wrong_type";
  return null;
}

/**
 * Upload `blob` for the call; resolves the stored material ({id, kind, url, …}).
 * @param {{callId: string, resumeToken: string}} call
 */
export async function uploadMaterial(call, blob, kind, source) {
  const problem = fileProblem(blob);
  if (problem) throw new UploadError(problem);
  const query = new URLSearchParams({ kind, source });
  let response;
  try {
    response = await fetch(`/api/calls/${encodeURIComponent(call.callId)}/materials?${query}`, {
      method: "POST", body: blob, cache: "no-store",
      headers: { "X-Resume-Token": call.resumeToken, "Content-Type": blob.type || "application/octet-stream" },
    });
  } catch {
    throw new UploadError("upload_failed");
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const code = body.code || (response.status === 413 ? "too_large" : "upload_failed");
    throw new UploadError(["too_large"].includes(code) ? code : (response.status === 422 ? "wrong_type" : "upload_failed"), body.message);
  }
  return body.material;
}

/** The deviceId of the first camera whose label contains `labelPart` (case-insensitive). */
export async function findCamera(labelPart) {
  if (!labelPart || !navigator.mediaDevices?.enumerateDevices) return null;
  const wanted = labelPart.toLowerCase();
  const devices = await navigator.mediaDevices.enumerateDevices();
  const camera = devices.find((d) => d.kind === "videoinput" && d.label.toLowerCase().includes(wanted));
  return camera ? camera.deviceId : null;
}

/** One still from the document camera as a JPEG blob (the camera is closed again). */
export async function captureFromCamera(deviceId) {
  const stream = await navigator.mediaDevices.getUserMedia({
    video: { deviceId: { exact: deviceId }, width: { ideal: 1920 }, height: { ideal: 1080 } }, audio: false,
  });
  try {
    const video = document.createElement("video");
    video.muted = true;
    video.playsInline = true;
    video.srcObject = stream;
    await video.play();
    if (!video.videoWidth) await new Promise((resolve) => video.addEventListener("resize", resolve, { once: true }));
    // The first frames of a camera are often dark while it adjusts.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    video.srcObject = null;
    return await new Promise((resolve, reject) => canvas.toBlob(
      (blob) => (blob ? resolve(blob) : reject(new Error("no image"))), "image/jpeg", 0.9));
  } finally {
    for (const track of stream.getTracks()) track.stop();
  }
}
