"""civic-ner: NER for Chinese civic news bulletins."""
