// Apache Kafka's own Java clients, driven by the tests (run with `java -cp <kafka libs>/* KafkaClients.java`, the
// single-file source launcher: nothing to build). Records travel as JSON lines, bytes in base64, null as null.
//
//   produce <bootstrap> <compression> [transactional.id]   stdin: {"op":"send","topic","partition","key","value",
//                                                          "headers":[[k,v]],"timestamp"} | {"op":"begin|commit|abort"}
//   consume <bootstrap> <topic> <read_committed|read_uncommitted>
//                                                          stdout: every record up to the end offsets seen at start
//   throughput <bootstrap> <warm topic> <warm records> <topic> <records> <max bytes> <max partition bytes> <max wait ms>
//                                                          reads the warm topic, then the topic, from the beginning,
//                                                          touching key, value and headers of each record; stdout: one
//                                                          JSON line {seconds, cpuSeconds, records, bytes, maxRssBytes}
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class KafkaClients {
  static final ObjectMapper JSON = new ObjectMapper();
  static final Base64.Encoder B64 = Base64.getEncoder();
  static final Base64.Decoder UNB64 = Base64.getDecoder();

  static byte[] bytes(JsonNode n) {
    return n == null || n.isNull() ? null : UNB64.decode(n.asText());
  }

  static void produce(String bootstrap, String compression, String txId) throws Exception {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, compression);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
    p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
    if (txId != null) p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, txId);
    try (KafkaProducer<byte[], byte[]> producer =
        new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
      if (txId != null) producer.initTransactions();
      Exception[] failure = new Exception[1];
      BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
      String line;
      while ((line = in.readLine()) != null) {
        if (line.isBlank()) continue;
        JsonNode op = JSON.readTree(line);
        switch (op.get("op").asText()) {
          case "begin" -> producer.beginTransaction();
          case "commit" -> producer.commitTransaction();
          case "abort" -> {
            producer.flush();
            producer.abortTransaction();
          }
          case "flush" -> producer.flush();
          case "send" -> {
            RecordHeaders headers = new RecordHeaders();
            if (op.has("headers")) for (JsonNode h : op.get("headers")) headers.add(h.get(0).asText(), bytes(h.get(1)));
            Long ts = op.hasNonNull("timestamp") ? op.get("timestamp").asLong() : null;
            // Asynchronous, so records share batches (and codecs see more than one record); errors end the run.
            producer.send(new ProducerRecord<>(op.get("topic").asText(), op.get("partition").asInt(), ts,
                bytes(op.get("key")), bytes(op.get("value")), headers), (meta, e) -> {
                  if (e != null) failure[0] = e;
                });
          }
          default -> throw new IllegalArgumentException("unknown op " + line);
        }
        if (failure[0] != null) throw failure[0];
      }
      producer.flush();
      if (failure[0] != null) throw failure[0];
    }
  }

  static void consume(String bootstrap, String topic, String isolation) throws Exception {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
    try (KafkaConsumer<byte[], byte[]> consumer =
        new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      List<TopicPartition> parts = new ArrayList<>();
      for (PartitionInfo info : consumer.partitionsFor(topic)) parts.add(new TopicPartition(topic, info.partition()));
      consumer.assign(parts);
      consumer.seekToBeginning(parts);
      // With read_committed the end is the last stable offset: what a consumer can ever see of this log now.
      Map<TopicPartition, Long> end = new HashMap<>(consumer.endOffsets(parts));
      long deadline = System.currentTimeMillis() + 60_000;
      while (true) {
        boolean done = true;
        for (TopicPartition tp : parts) if (consumer.position(tp) < end.get(tp)) done = false;
        if (done) break;
        if (System.currentTimeMillis() > deadline) throw new IllegalStateException("did not reach " + end);
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
          if (r.offset() >= end.get(new TopicPartition(r.topic(), r.partition()))) continue;
          ObjectNode o = JSON.createObjectNode();
          o.put("partition", r.partition());
          o.put("offset", r.offset());
          o.put("timestamp", r.timestamp());
          o.put("key", r.key() == null ? null : B64.encodeToString(r.key()));
          o.put("value", r.value() == null ? null : B64.encodeToString(r.value()));
          ArrayNode hs = o.putArray("headers");
          for (Header h : r.headers()) {
            ArrayNode pair = hs.addArray();
            pair.add(h.key());
            pair.add(h.value() == null ? null : B64.encodeToString(h.value()));
          }
          out.println(JSON.writeValueAsString(o));
        }
      }
    }
    out.flush();
  }

  /** Seconds of CPU this JVM used so far (every thread), from the platform's bean. */
  static double cpuSeconds() {
    return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime()
        / 1e9;
  }

  /** Peak resident set of this process (VmHWM), bytes; 0 where /proc is not there. */
  static long peakRssBytes() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith("VmHWM:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
      }
    } catch (Exception e) {
      // not Linux
    }
    return 0;
  }

  /**
   * Reads `records` records of `topic` from the beginning (read_committed, assigned partitions, no group) and touches
   * key, value and headers of each, as a decode-only consumer does. Returns {seconds, cpuSeconds, records, bytes},
   * timed from the consumer's creation to the last record.
   */
  static ObjectNode readAll(String bootstrap, String topic, long records, String[] fetch) {
    long t0 = System.nanoTime();
    double c0 = cpuSeconds();
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    p.put(ConsumerConfig.FETCH_MAX_BYTES_CONFIG, fetch[0]);
    p.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, fetch[1]);
    p.put(ConsumerConfig.FETCH_MIN_BYTES_CONFIG, "1");
    p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, fetch[2]);
    long seen = 0;
    long bytes = 0;
    try (KafkaConsumer<byte[], byte[]> consumer =
        new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      List<TopicPartition> parts = new ArrayList<>();
      for (PartitionInfo info : consumer.partitionsFor(topic)) parts.add(new TopicPartition(topic, info.partition()));
      consumer.assign(parts);
      consumer.seekToBeginning(parts);
      long deadline = System.currentTimeMillis() + 30 * 60_000;
      while (seen < records) {
        if (System.currentTimeMillis() > deadline) throw new IllegalStateException("read " + seen + " of " + records);
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
          if (r.key() != null) bytes += r.key().length;
          if (r.value() != null) bytes += r.value().length;
          for (Header h : r.headers()) if (h.value() != null) bytes += h.value().length;
          seen++;
        }
      }
      ObjectNode o = JSON.createObjectNode();
      o.put("seconds", (System.nanoTime() - t0) / 1e9);
      o.put("cpuSeconds", cpuSeconds() - c0);
      o.put("records", seen);
      o.put("bytes", bytes);
      return o;
    }
  }

  static void throughput(String[] a) {
    String[] fetch = {a[6], a[7], a[8]};
    readAll(a[1], a[2], Long.parseLong(a[3]), fetch); // warm-up: JIT, connections
    ObjectNode o = readAll(a[1], a[4], Long.parseLong(a[5]), fetch);
    o.put("maxRssBytes", peakRssBytes());
    System.out.println(o.toString());
  }

  public static void main(String[] args) throws Exception {
    switch (args[0]) {
      case "produce" -> produce(args[1], args[2], args.length > 3 ? args[3] : null);
      case "consume" -> consume(args[1], args[2], args[3]);
      case "throughput" -> throughput(args);
      default -> throw new IllegalArgumentException("usage: produce|consume|throughput ...");
    }
  }
}
