# Reads every partition of a topic from the beginning up to the end offsets seen at the start (read_committed), with
# one of two Python Kafka clients from PyPI, and prints each record as a JSON line in the shape of the Java clients'
# records: partition, offset, timestamp, key/value in base64 (null stays null), headers as [key, base64 value].
#
#   kafka_read.py kafka-python|confluent-kafka <bootstrap> <topic>
import base64
import json
import sys
import time


def b64(b):
    return None if b is None else base64.b64encode(b).decode()


def line(partition, offset, timestamp, key, value, headers):
    return json.dumps({
        'partition': partition,
        'offset': offset,
        'timestamp': timestamp,
        'key': b64(key),
        'value': b64(value),
        'headers': [[k, b64(v)] for k, v in (headers or [])],
    })


def with_kafka_python(bootstrap, topic):
    from kafka import KafkaConsumer, TopicPartition
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                      auto_offset_reset='earliest', isolation_level='read_committed')
    parts = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or [])]
    if not parts:
        raise SystemExit('no partitions for %s' % topic)
    c.assign(parts)
    c.seek_to_beginning(*parts)
    end = c.end_offsets(parts)
    out = []
    deadline = time.time() + 60
    while any(c.position(tp) < end[tp] for tp in parts):
        if time.time() > deadline:
            raise SystemExit('did not reach %s' % end)
        for tp, records in c.poll(timeout_ms=200).items():
            for m in records:
                if m.offset < end[tp]:
                    out.append(line(m.partition, m.offset, m.timestamp, m.key, m.value, m.headers))
    c.close()
    return out


def with_confluent_kafka(bootstrap, topic):
    from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
    c = Consumer({'bootstrap.servers': bootstrap, 'group.id': 'everlog-judge', 'enable.auto.commit': False,
                  'isolation.level': 'read_committed', 'auto.offset.reset': 'earliest'})
    md = c.list_topics(topic, timeout=30)
    parts = sorted(md.topics[topic].partitions)
    if not parts:
        raise SystemExit('no partitions for %s' % topic)
    end = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in parts}
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    out = []
    deadline = time.time() + 60

    def behind():
        positions = c.position([TopicPartition(topic, p) for p in parts])
        return any(end[tp.partition] > 0 and tp.offset < end[tp.partition] for tp in positions)

    while behind():
        if time.time() > deadline:
            raise SystemExit('did not reach %s' % end)
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            raise SystemExit(str(m.error()))
        if m.offset() < end[m.partition()]:
            out.append(line(m.partition(), m.offset(), m.timestamp()[1], m.key(), m.value(), m.headers()))
    c.close()
    return out


if __name__ == '__main__':
    client, bootstrap, topic = sys.argv[1:4]
    read = {'kafka-python': with_kafka_python, 'confluent-kafka': with_confluent_kafka}[client]
    print('\n'.join(read(bootstrap, topic)))
