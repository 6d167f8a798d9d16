// Glass-to-glass stamps in the browser, the same layout as media/stamped.py.
//
// A classic script (tests and benchmarks inject it into a page with Playwright) that
// defines globalThis.GlassStamp:
//   - readStamp(imageData): the capture time (ms since the epoch) stamped into a picture,
//     or null when the picture carries no valid stamp;
//   - StampReader(video): reads the stamp of every frame a <video> presents
//     (requestVideoFrameCallback) and keeps Date.now() - stamp as latency samples;
//   - StampedCanvasSource(width, height, fps): a canvas drawn with moving bars and the
//     stamp of Date.now() at each draw, as a MediaStream (captureStream): Chromium as the
//     stamped sender.
// The grid: 4 rows x 20 square blocks (side = width / 20) from height / 4 down, black 0,
// white 1, most significant bit first: 64-bit time then the low 16 bits of its CRC-32.
(() => {
  const COLUMNS = 20;
  const ROWS = 4;
  const BITS = COLUMNS * ROWS;
  const LATTICE = 3;

  const CRC_TABLE = (() => {
    const table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
    return table;
  })();

  function crc32(bytes) {
    let crc = 0xffffffff;
    for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
    return (crc ^ 0xffffffff) >>> 0;
  }

  function checksum(ms) {
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(ms));
    return crc32(bytes) & 0xffff;
  }

  function stampBits(ms) {
    const word = (BigInt(ms) << 16n) | BigInt(checksum(ms));
    const bits = [];
    for (let i = 0; i < BITS; i++) bits.push(Number((word >> BigInt(BITS - 1 - i)) & 1n));
    return bits;
  }

  function drawStamp(context, width, height, ms) {
    const side = width / COLUMNS;
    const top = height / 4;
    stampBits(ms).forEach((bit, index) => {
      const row = Math.floor(index / COLUMNS);
      const column = index % COLUMNS;
      const y0 = Math.round(top + row * side);
      const x0 = Math.round(column * side);
      context.fillStyle = bit ? "#fff" : "#000";
      context.fillRect(x0, y0, Math.round((column + 1) * side) - x0,
                       Math.round(top + (row + 1) * side) - y0);
    });
  }

  function readStamp(image) {
    const { width, height, data } = image;
    const side = width / COLUMNS;
    const top = height / 4;
    if (side < 2 || top + ROWS * side > height) return null;
    let word = 0n;
    for (let index = 0; index < BITS; index++) {
      const row = Math.floor(index / COLUMNS);
      const column = index % COLUMNS;
      let sum = 0;
      for (let i = 0; i < LATTICE; i++) {
        for (let j = 0; j < LATTICE; j++) {
          const fy = ((i + 0.5) / LATTICE) * 0.5 + 0.25;
          const fx = ((j + 0.5) / LATTICE) * 0.5 + 0.25;
          const y = Math.min(height - 1, Math.floor(top + (row + fy) * side));
          const x = Math.min(width - 1, Math.floor((column + fx) * side));
          const at = (y * width + x) * 4;
          sum += (data[at] + data[at + 1] + data[at + 2]) / 3;
        }
      }
      word = (word << 1n) | (sum / (LATTICE * LATTICE) > 127 ? 1n : 0n);
    }
    const ms = Number(word >> 16n);
    return checksum(ms) === Number(word & 0xffffn) ? ms : null;
  }

  class StampReader {
    constructor(video) {
      this.video = video;
      this.samples = [];
      this.unstamped = 0;
      this.canvas = document.createElement("canvas");
      this.context = this.canvas.getContext("2d", { willReadFrequently: true });
      this.running = false;
    }

    start() {
      this.running = true;
      const onFrame = () => {
        if (!this.running) return;
        this.read();
        this.video.requestVideoFrameCallback(onFrame);
      };
      this.video.requestVideoFrameCallback(onFrame);
    }

    read() {
      const now = Date.now();
      const { videoWidth: width, videoHeight: height } = this.video;
      if (!width || !height) return;
      if (this.canvas.width !== width || this.canvas.height !== height) {
        this.canvas.width = width;
        this.canvas.height = height;
      }
      this.context.drawImage(this.video, 0, 0, width, height);
      const ms = readStamp(this.context.getImageData(0, 0, width, height));
      if (ms === null) this.unstamped += 1;
      else this.samples.push(now - ms);
    }

    stop() {
      this.running = false;
      return { samples: this.samples.slice(), unstamped: this.unstamped };
    }
  }

  class StampedCanvasSource {
    constructor(width = 640, height = 360, fps = 15) {
      this.canvas = document.createElement("canvas");
      this.canvas.width = width;
      this.canvas.height = height;
      this.context = this.canvas.getContext("2d");
      this.frame = 0;
      this.stream = this.canvas.captureStream(fps);
      this.draw();
      this.timer = setInterval(() => this.draw(), 1000 / fps);
    }

    draw() {
      const { width, height } = this.canvas;
      const colours = ["#bfbfbf", "#bfbf00", "#00bfbf", "#00bf00", "#bf00bf", "#bf0000", "#0000bf"];
      const bar = width / colours.length;
      const shift = (this.frame * 4) % width;
      colours.forEach((colour, i) => {
        const x = (i * bar + shift) % width;
        this.context.fillStyle = colour;
        this.context.fillRect(x, 0, bar + 1, height);
        this.context.fillRect(x - width, 0, bar + 1, height);
      });
      drawStamp(this.context, width, height, Date.now());
      this.frame += 1;
    }

    stop() {
      clearInterval(this.timer);
      for (const track of this.stream.getTracks()) track.stop();
    }
  }

  globalThis.GlassStamp = { readStamp, drawStamp, StampReader, StampedCanvasSource };
})();
